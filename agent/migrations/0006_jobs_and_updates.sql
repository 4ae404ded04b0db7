-- Jobs: a failed job's message in French beside the English one (`message`), so the admin UI
-- shows it in the admin's language.
ALTER TABLE jobs ADD COLUMN message_fr TEXT NOT NULL DEFAULT '';

-- The safety snapshot taken before an update, once taken (JSON `{"target","snapshot"}`, or
-- `null` when there was no backup target); NULL outside updates and until it is taken. An
-- update resumed after a crash puts the data back from it if the new version fails.
ALTER TABLE apps ADD COLUMN update_safety TEXT;
