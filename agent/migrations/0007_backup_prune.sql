-- When `forget --prune` last ran on a target: nightly runs always prune, a manual run
-- ("Back up now") only when the last prune is a day old, so that it stays quick.
ALTER TABLE backup_targets ADD COLUMN pruned_at INTEGER;
