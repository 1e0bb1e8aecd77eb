-- Migration: 001_create_catalogue.sql
-- Created: 2026-05-04
-- Description: Catalogue du café — produits, prix en €, noms japonais (日本語)

-- UP
-- Saved by an editor on Windows: UTF-8 with a byte order mark, CRLF line endings.
CREATE TABLE café (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nom text NOT NULL,
    "prix_€" numeric(10,2) NOT NULL DEFAULT 0,
    "日本語名" text,
    créé_le timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX café_nom_key ON café (lower(nom));

COMMENT ON TABLE café IS 'Produits du café — メニュー (日本)';
COMMENT ON COLUMN café."日本語名" IS '商品名（日本語）';

INSERT INTO café (nom, "prix_€", "日本語名") VALUES
    ('Crème brûlée', 6.50, 'クレームブリュレ'),
    ('Thé vert', 3.20, '緑茶'),
    ('Café noisette', 2.80, NULL);

-- DOWN
DROP TABLE IF EXISTS café;
