use std::io::IsTerminal;
use std::path::Path;

use icn_identity::KeystoreError;
use icn_identity::passphrase::{PassphraseSource, read_passphrase_file, resolve_passphrase};

fn write(dir: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn strips_exactly_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[u8], &[u8])] = &[
        (b"secret", b"secret"),
        (b"secret\n", b"secret"),
        (b"secret\r\n", b"secret"),
        (b"secret\n\n", b"secret\n"),
        (b"secret\r\n\r\n", b"secret\r\n"),
        (b"secret\r", b"secret\r"),
        (b" spaced out \t\n", b" spaced out \t"),
        (b"line1\nline2\n", b"line1\nline2"),
        (b"\xff\x00binary\n", b"\xff\x00binary"),
    ];
    for (i, (contents, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("p{i}"), contents);
        let got = read_passphrase_file(&path).unwrap();
        assert_eq!(&got[..], *expected, "{contents:?}");
    }
}

#[test]
fn empty_passphrase_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for contents in [&b""[..], b"\n", b"\r\n"] {
        let path = write(dir.path(), "empty", contents);
        let err = read_passphrase_file(&path).unwrap_err();
        assert!(matches!(err, KeystoreError::EmptyPassphrase), "{err}");
    }
}

#[test]
fn missing_passphrase_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope");
    let err = resolve_passphrase(Some(&path), None, false).unwrap_err();
    assert!(matches!(err, KeystoreError::PassphraseFile { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn flag_wins_over_env() {
    let dir = tempfile::tempdir().unwrap();
    let flag = write(dir.path(), "flag", b"from-flag\n");
    let env = write(dir.path(), "env", b"from-env\n");
    let got = resolve_passphrase(Some(&flag), Some(&env), true).unwrap();
    assert_eq!(&got[..], b"from-flag");
    let got = resolve_passphrase(None, Some(&env), true).unwrap();
    assert_eq!(&got[..], b"from-env");
    assert_eq!(
        PassphraseSource::select(None, Some(&env)),
        PassphraseSource::File(env.clone())
    );
}

#[test]
fn no_source_and_no_terminal_is_an_error() {
    if std::io::stdin().is_terminal() {
        // Would prompt; covered by the unit tests with a fake terminal instead.
        return;
    }
    let err = resolve_passphrase(None, None, false).unwrap_err();
    assert!(matches!(err, KeystoreError::NoPassphrase), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("--password-file") && msg.contains("ICN_PASSPHRASE_FILE"),
        "{msg}"
    );
}
