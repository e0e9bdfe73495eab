//! `credentials_file_path`: credentials in an AWS credentials file (its
//! `[default]` profile) that another process keeps fresh, as the Workload
//! Credentials Provider reads them. The file is looked at again whenever the
//! SDK asks (each answer expires in 30 seconds, so it asks that often) and
//! re-read when its modification time changed; a file that went missing or
//! is half-written keeps the last good credentials in use.

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

const ANSWER_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct FileCredentials {
    path: PathBuf,
    last: Mutex<Option<(SystemTime, Keys)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// The `[default]` profile's keys in credentials-file text.
fn parse(text: &str) -> Option<Keys> {
    let (mut in_default, mut id, mut secret, mut token) = (false, None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if !in_default {
            continue;
        }
        let v = v.trim().to_string();
        match k.trim() {
            "aws_access_key_id" => id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    Some(Keys {
        access_key_id: id.filter(|s| !s.is_empty())?,
        secret_access_key: secret.filter(|s| !s.is_empty())?,
        session_token: token.filter(|s| !s.is_empty()),
    })
}

impl FileCredentials {
    pub fn new(path: PathBuf) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(&path) {
                if m.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "the credentials file can be read by others than its owner");
                }
            }
        }
        FileCredentials {
            path,
            last: Mutex::new(None),
        }
    }

    fn current(&self) -> Result<Credentials, CredentialsError> {
        let mut last = self
            .last
            .lock()
            .map_err(|_| CredentialsError::unhandled("credentials lock poisoned"))?;
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let stale = match (&*last, modified) {
            (Some((seen, _)), Some(now)) => *seen != now,
            (None, _) => true,
            (Some(_), None) => false,
        };
        if stale {
            match std::fs::read_to_string(&self.path)
                .ok()
                .as_deref()
                .and_then(parse)
            {
                Some(keys) => {
                    if last.as_ref().is_some_and(|(_, k)| *k != keys) {
                        tracing::info!(path = %self.path.display(), "credentials file changed; using its new keys");
                    }
                    *last = Some((modified.unwrap_or(SystemTime::UNIX_EPOCH), keys));
                }
                None if last.is_some() => {
                    tracing::warn!(path = %self.path.display(), "credentials file unreadable; keeping the last good keys");
                }
                None => {
                    return Err(CredentialsError::not_loaded(format!(
                        "no [default] credentials in {}",
                        self.path.display()
                    )))
                }
            }
        }
        let (_, k) = last.as_ref().expect("set above");
        Ok(Credentials::new(
            k.access_key_id.clone(),
            k.secret_access_key.clone(),
            k.session_token.clone(),
            Some(SystemTime::now() + ANSWER_LIFETIME),
            "coffer-credentials-file",
        ))
    }
}

impl ProvideCredentials for FileCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_is_read_and_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, "[other]\naws_access_key_id = X\n[default]\naws_access_key_id = A1\naws_secret_access_key = s1\n").unwrap();
        let f = FileCredentials::new(path.clone());
        assert_eq!(f.current().unwrap().access_key_id(), "A1");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "[default]\naws_access_key_id = A2\naws_secret_access_key = s2\naws_session_token = t\n").unwrap();
        let c = f.current().unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("A2", Some("t")));
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "[default]\naws_access_key_id = \n").unwrap();
        assert_eq!(
            f.current().unwrap().access_key_id(),
            "A2",
            "a half-written file keeps the last keys"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(f.current().unwrap().access_key_id(), "A2");
        assert!(FileCredentials::new(dir.path().join("none"))
            .current()
            .is_err());
    }
}
