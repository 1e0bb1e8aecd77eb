-- Migration: 002_create_commandes.sql
-- Created: 2026-05-05
-- Description: Commandes et leur total — CRLF without a byte order mark

--  UP  
CREATE TABLE commandes (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    café_id integer NOT NULL REFERENCES café(id),
    quantité integer NOT NULL CHECK (quantité > 0),
    note text
);

-- Le total d'une commande, en euros.
CREATE FUNCTION total_commande(p_id integer) RETURNS numeric
    LANGUAGE plpgsql
    STABLE
AS $$
DECLARE
    v_total numeric;
BEGIN
    SELECT c.quantité * p."prix_€" INTO v_total
      FROM commandes c
      JOIN café p ON p.id = c.café_id
     WHERE c.id = p_id;
    IF v_total IS NULL THEN
        RAISE EXCEPTION 'commande % introuvable — 注文が見つかりません', p_id;
    END IF;
    RETURN v_total;
END;
$$;

INSERT INTO commandes (café_id, quantité, note)
SELECT id, 2, 'Table 4 :
-- DOWN
(ceci est une note, pas un marqueur)' FROM café WHERE nom = 'Thé vert';

-- down
DROP FUNCTION IF EXISTS total_commande(integer);
DROP TABLE IF EXISTS commandes;
