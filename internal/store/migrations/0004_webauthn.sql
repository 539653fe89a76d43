-- placeholder: WebAuthn credentials (filled in by the mfa package)
CREATE TABLE webauthn_placeholder (id INTEGER);
