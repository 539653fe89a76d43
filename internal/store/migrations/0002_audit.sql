-- placeholder: the audit log (filled in by the audit package)
CREATE TABLE audit_placeholder (id INTEGER);
