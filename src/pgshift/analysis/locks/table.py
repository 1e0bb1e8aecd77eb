"""The lock levels PostgreSQL's statements take, as lookup tables.

The eight table lock modes in order of strength, the mode each ALTER TABLE subcommand
takes (tablecmds.c, ``AlterTableGetLockLevel``) and the words pgshift uses to name a
subcommand or an object type in a lock's reason. Used by
:mod:`pgshift.analysis.locks.statement`. Pure.
"""

from __future__ import annotations

import re

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

__all__ = [
    "AS", "AX", "MODES", "ONE_RELATION", "RS", "RX", "SRX", "SUX", "TABLE_MEMBERS", "S", "X",
    "object_label", "relation_kind", "subcommand_label", "subcommand_mode",
]

MODES = (
    "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
    "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE",
)  # fmt: skip
AS, RS, RX, SUX, S, SRX, X, AX = MODES

# ALTER TABLE subcommands documented below ACCESS EXCLUSIVE (tablecmds.c,
# AlterTableGetLockLevel); every other subcommand takes ACCESS EXCLUSIVE.
_SUBCOMMAND_MODES = {
    AlterTableType.AT_SetStatistics: SUX, AlterTableType.AT_ClusterOn: SUX,
    AlterTableType.AT_DropCluster: SUX, AlterTableType.AT_SetOptions: SUX,
    AlterTableType.AT_ResetOptions: SUX, AlterTableType.AT_ValidateConstraint: SUX,
    AlterTableType.AT_AttachPartition: SUX, AlterTableType.AT_DetachPartitionFinalize: SUX,
    AlterTableType.AT_EnableTrig: SRX, AlterTableType.AT_EnableAlwaysTrig: SRX,
    AlterTableType.AT_EnableReplicaTrig: SRX, AlterTableType.AT_EnableTrigAll: SRX,
    AlterTableType.AT_EnableTrigUser: SRX, AlterTableType.AT_DisableTrig: SRX,
    AlterTableType.AT_DisableTrigAll: SRX, AlterTableType.AT_DisableTrigUser: SRX,
}  # fmt: skip
_LABELS = {
    AlterTableType.AT_AlterColumnType: "ALTER COLUMN … TYPE", AlterTableType.AT_ChangeOwner:
    "OWNER TO", AlterTableType.AT_SetRelOptions: "SET (…)", AlterTableType.AT_ResetRelOptions:
    "RESET (…)", AlterTableType.AT_SetOptions: "ALTER COLUMN … SET (…)",
    AlterTableType.AT_SetUnLogged: "SET UNLOGGED",
}  # fmt: skip
_RELOPTIONS = (AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions,
               AlterTableType.AT_ReplaceRelOptions)
# Storage parameters whose change takes ACCESS EXCLUSIVE (reloptions.c); the others take
# SHARE UPDATE EXCLUSIVE.
_EXCLUSIVE_RELOPTIONS = frozenset(
    {"user_catalog_table", "security_barrier", "security_invoker", "check_option", "buffering"}
)
_CONSTRAINT_WORDS = {
    ConstrType.CONSTR_FOREIGN: "FOREIGN KEY", ConstrType.CONSTR_CHECK: "CHECK",
    ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE",
    ConstrType.CONSTR_EXCLUSION: "EXCLUDE", ConstrType.CONSTR_NOTNULL: "NOT NULL",
}  # fmt: skip
_RELATION_KINDS = {
    ObjectType.OBJECT_TABLE: "table", ObjectType.OBJECT_FOREIGN_TABLE: "table",
    ObjectType.OBJECT_INDEX: "index", ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view", ObjectType.OBJECT_SEQUENCE: "sequence",
}  # fmt: skip
# Objects that live on a table: their name lists end with the table, then the object.
TABLE_MEMBERS = frozenset({ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_POLICY,
                           ObjectType.OBJECT_RULE, ObjectType.OBJECT_TABCONSTRAINT,
                           ObjectType.OBJECT_COLUMN})
# Statements that lock the one relation named by an attribute of their node.
ONE_RELATION: dict[type[ast.Node], tuple[str, str, str, str]] = {
    ast.CreateTrigStmt: ("relation", SRX, "CREATE TRIGGER", "table"),
    ast.CreatePolicyStmt: ("table", AX, "CREATE POLICY", "table"),
    ast.AlterPolicyStmt: ("table", AX, "ALTER POLICY", "table"),
    ast.RuleStmt: ("relation", AX, "CREATE RULE", "table"),
    ast.ClusterStmt: ("relation", AX, "CLUSTER", "table"),
    ast.AlterSeqStmt: ("sequence", SRX, "ALTER SEQUENCE", "sequence"),
}


def subcommand_label(cmd: ast.AlterTableCmd, subtype: AlterTableType) -> str:
    """How a lock's reason names ALTER TABLE subcommand ``cmd``: ``ADD FOREIGN KEY``,
    ``SET DEFAULT``, ``ALTER COLUMN … TYPE``, …."""
    if isinstance(cmd.def_, ast.Constraint) and cmd.def_.contype is not None:
        return "ADD " + _CONSTRAINT_WORDS.get(cmd.def_.contype, "CONSTRAINT")
    if subtype == AlterTableType.AT_ColumnDefault:
        return "SET DEFAULT" if cmd.def_ is not None else "DROP DEFAULT"
    if subtype in _LABELS:
        return _LABELS[subtype]
    words = re.findall(r"[A-Z][a-z]*", subtype.name.removeprefix("AT_"))
    return " ".join(words).upper().replace("TRIG", "TRIGGER")


def subcommand_mode(cmd: ast.AlterTableCmd, subtype: AlterTableType) -> str:
    """The lock mode ALTER TABLE subcommand ``cmd`` takes on its table."""
    if subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
        return SRX if cmd.def_.contype == ConstrType.CONSTR_FOREIGN else AX
    if subtype in _RELOPTIONS:
        names = {d.defname for d in cmd.def_ or () if isinstance(d, ast.DefElem)}
        return AX if names & _EXCLUSIVE_RELOPTIONS else SUX
    if subtype == AlterTableType.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd):
        return SUX if cmd.def_.concurrent else AX
    return _SUBCOMMAND_MODES.get(subtype, AX)


def relation_kind(objtype: ObjectType | None) -> str | None:
    """``table``, ``index``, ``view``, … for a relation's object type; None for others."""
    return None if objtype is None else _RELATION_KINDS.get(objtype)


def object_label(objtype: ObjectType | None) -> str:
    """``TRIGGER``, ``POLICY``, … for an object type."""
    name = objtype.name.removeprefix("OBJECT_") if objtype is not None else "OBJECT"
    return name.replace("TABCONSTRAINT", "CONSTRAINT")
