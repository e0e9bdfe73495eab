//! PostgreSQL servers of a test's own (initdb in a temporary directory, on a
//! free port), so a test can stop, restart or reconfigure one without
//! disturbing any other test. As root, the server runs as `postgres` (it
//! refuses to run as root).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

/// How clients log in.
pub enum Auth<'a> {
    /// Anyone, as any user (the fleet tests).
    Trust,
    /// scram-sha-256, with this password for `postgres` (where a wrong
    /// password must really be refused).
    Password(&'a str),
}

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    tls: bool,
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    pub fn start(auth: Auth<'_>) -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries in /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Cluster {
            bin,
            dir,
            port,
            tls: false,
        };
        let data = pg.data();
        let mut args = vec![
            "-D".to_string(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "--no-sync".into(),
        ];
        match auth {
            Auth::Trust => args.extend(["-A".into(), "trust".into()]),
            Auth::Password(pw) => {
                let file = pg.dir.path().join("pw");
                std::fs::write(&file, pw).unwrap();
                args.push("--auth=scram-sha-256".into());
                args.push(format!("--pwfile={}", file.display()));
            }
        }
        pg.chown();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        pg.run("initdb", &refs);
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn chown(&self) {
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let d = self.dir.path();
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            d.display()
        );
        if self.tls {
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let (data, log) = (self.data(), d.join("pg.log"));
        let mut all = vec![
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &opts,
            "-w",
        ];
        all.extend(args);
        self.run("pg_ctl", &all);
    }

    pub fn up(&self) {
        self.pg_ctl(&["start"]);
    }

    /// A fast shutdown: clients are disconnected, as when a database goes away.
    pub fn down(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// An immediate stop: no checkpoint, so the restart recovers from the WAL,
    /// as after the database's machine lost power.
    pub fn crash(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }

    /// Serves TLS too, with a certificate for 127.0.0.1 and localhost from a
    /// throwaway CA, whose PEM file it returns. `hba_first` goes on top of
    /// pg_hba.conf (to refuse plain connections to someone, say).
    pub fn with_tls(&mut self, hba_first: Option<&str>) -> PathBuf {
        let set = coffer::devtls::DevTls::ensure(&self.dir.path().join("certs")).unwrap();
        let data = self.data();
        std::fs::copy(&set.cert_file, data.join("server.crt")).unwrap();
        std::fs::copy(&set.key_file, data.join("server.key")).unwrap();
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if let Some(line) = hba_first {
            let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
            std::fs::write(data.join("pg_hba.conf"), format!("{line}\n{hba}")).unwrap();
        }
        self.chown();
        self.down();
        self.tls = true;
        self.up();
        set.ca_file
    }

    /// The `postgres` user's URL (with `Auth::Trust`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(exe)
                .args(args)
                .output()
        } else {
            Command::new(exe).args(args).output()
        };
    }
}
