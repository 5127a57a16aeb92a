/**
 * Photos and the count history are personal data: what this system writes to disk is readable by
 * its own user only (docs/security.md). Modes apply when a file or directory is created; the umask
 * can only remove bits from them.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
