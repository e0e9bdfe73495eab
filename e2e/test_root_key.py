"""The passphrase root-key provider: the key is derived from a passphrase with
Argon2id, so the data directory alone (a stolen disk) opens nothing."""

import os
import subprocess

from conftest import AKID, BIN, SECRET, Server

PASSPHRASE = "correct horse battery staple"


def start(data, passphrase):
    return Server(data, ["--root-key", "passphrase"], env={
        "COFFER_ROOT_KEY": passphrase, "COFFER_DEV_ACCESS_KEY_ID": AKID,
        "COFFER_DEV_SECRET_ACCESS_KEY": SECRET})


def test_a_passphrase_opens_the_store_and_nothing_else_does(workdir):
    data = os.path.join(workdir, "data")
    s = start(data, PASSPHRASE)
    try:
        s.client().create_secret(Name="pp/db", SecretString="behind a passphrase")
    finally:
        assert s.stop() == 0
    # No key on disk: only the salt, which is not secret.
    assert not os.path.exists(os.path.join(data, "root.key"))
    assert os.path.exists(os.path.join(data, "root.salt"))
    s = start(data, PASSPHRASE)
    try:
        assert s.client().get_secret_value(SecretId="pp/db")["SecretString"] == "behind a passphrase"
    finally:
        assert s.stop() == 0
    env = {**os.environ, "COFFER_ROOT_KEY": "a different passphrase"}
    out = subprocess.run([BIN, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data,
                          "--root-key", "passphrase"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "different root key" in out.stderr
    env["COFFER_ROOT_KEY"] = "short"
    out = subprocess.run([BIN, "server", "--dev", "--listen", "127.0.0.1:0", "--data-dir", data,
                          "--root-key", "passphrase"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "shorter than 12 characters" in out.stderr


def test_a_backup_carries_the_salt_a_passphrase_needs(workdir):
    data = os.path.join(workdir, "data")
    s = start(data, PASSPHRASE)
    try:
        s.client().create_secret(Name="pp/kept", SecretString="kept")
        backup = os.path.join(workdir, "coffer.backup")
        out = subprocess.run([BIN, "backup", "--data-dir", data, "--out", backup],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    finally:
        assert s.stop() == 0
    assert os.path.exists(backup + ".root.salt")
    # On a new machine: the backup and the passphrase are enough.
    fresh = os.path.join(workdir, "fresh")
    out = subprocess.run([BIN, "restore", "--data-dir", fresh, "--from", backup, "--root-key", "passphrase"],
                         env={**os.environ, "COFFER_ROOT_KEY": PASSPHRASE},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    s = start(fresh, PASSPHRASE)
    try:
        assert s.client().get_secret_value(SecretId="pp/kept")["SecretString"] == "kept"
    finally:
        assert s.stop() == 0
