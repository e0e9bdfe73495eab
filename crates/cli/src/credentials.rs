//! The root credential file: written once, 0600, in the data directory, as shell
//! `export` lines a person can source.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const FILE_NAME: &str = "root-credentials";

pub struct RootCredential {
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl RootCredential {
    pub fn export_lines(&self) -> String {
        format!(
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport COFFER_ACCOUNT_ID={}\n",
            self.access_key_id, self.secret_access_key, self.account_id
        )
    }

    /// Writes the file; refuses to overwrite one that exists.
    pub fn write_new(&self, dir: &Path) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(FILE_NAME))?;
        f.write_all(self.export_lines().as_bytes())?;
        f.sync_all()
    }

    pub fn read(dir: &Path) -> std::io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(dir.join(FILE_NAME)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {k}=")))
                .map(str::to_string)
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{FILE_NAME} lacks {k}"),
                    )
                })
        };
        Ok(Some(RootCredential {
            account_id: get("COFFER_ACCOUNT_ID")?,
            access_key_id: get("AWS_ACCESS_KEY_ID")?,
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
        }))
    }
}
