-- A finding's message as its control wrote it: an English sprintf format
-- (the key of its Japanese translation in the control's control.yaml) and
-- the format's parameters as a JSON array, so the console can say it in
-- the reader's language; message keeps the English, "<resource>: …", for
-- the API, the CLI and notifications. A row from before keeps its English
-- message as its format, without the resource's id and with "%" doubled,
-- and no parameters: a constant message reads in Japanese at once, one
-- with values in it when the next evaluation writes the row again.
ALTER TABLE findings ADD COLUMN message_format TEXT NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN message_params TEXT NOT NULL DEFAULT '[]';
UPDATE findings SET message_format = replace(CASE
    WHEN substr(message, 1, length(resource_id) + 2) = resource_id || ': ' THEN substr(message, length(resource_id) + 3)
    ELSE message END, '%', '%%');
