//! Where the keystore passphrase comes from.
//!
//! In order: the `--password-file` flag, then the file named by `ICN_PASSPHRASE_FILE`, then an
//! interactive prompt, offered only when stdin is a terminal, so scripts and tests never hang
//! waiting for input. The caller reads the environment and passes the value in.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::KeystoreError;

const PROMPT: &str = "Passphrase for the node identity: ";
const CONFIRM_PROMPT: &str = "Repeat the passphrase: ";

/// A place to get the passphrase from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// Read it from this file (one trailing newline is ignored).
    File(PathBuf),
    /// Ask on the terminal, without echo.
    Prompt,
}

impl PassphraseSource {
    /// Picks the source: `file_flag`, else `env_file`, else the prompt. An empty path counts
    /// as absent (as when `ICN_PASSPHRASE_FILE=` is set to nothing).
    pub fn select(file_flag: Option<&Path>, env_file: Option<&Path>) -> PassphraseSource {
        file_flag
            .into_iter()
            .chain(env_file)
            .find(|p| !p.as_os_str().is_empty())
            .map_or(PassphraseSource::Prompt, |p| {
                PassphraseSource::File(p.to_path_buf())
            })
    }

    /// Reads the passphrase from this source. With `confirm`, the prompt asks twice (for
    /// creating a keystore); files are read once either way.
    ///
    /// # Errors
    ///
    /// [`KeystoreError::PassphraseFile`], [`KeystoreError::EmptyPassphrase`],
    /// [`KeystoreError::NoPassphrase`] (prompt needed but stdin is not a terminal),
    /// [`KeystoreError::PassphraseMismatch`] or [`KeystoreError::Prompt`].
    pub fn read(&self, confirm: bool) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        match self {
            PassphraseSource::File(path) => read_passphrase_file(path),
            PassphraseSource::Prompt => {
                read_from_prompt(confirm, io::stdin().is_terminal(), &mut |prompt| {
                    rpassword::prompt_password(prompt)
                })
            }
        }
    }
}

/// Gets the passphrase from the first available source: `file_flag` (`--password-file`),
/// `env_file` (the value of `ICN_PASSPHRASE_FILE`), or a prompt if stdin is a terminal.
///
/// # Errors
///
/// As [`PassphraseSource::read`]; in particular [`KeystoreError::NoPassphrase`] when no file
/// is given and stdin is not a terminal.
pub fn resolve_passphrase(
    file_flag: Option<&Path>,
    env_file: Option<&Path>,
    confirm: bool,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    PassphraseSource::select(file_flag, env_file).read(confirm)
}

/// Reads a passphrase file: its bytes, less one trailing `\n` or `\r\n`. Anything else
/// (other whitespace, further newlines) is part of the passphrase.
///
/// # Errors
///
/// [`KeystoreError::PassphraseFile`] if the file cannot be read,
/// [`KeystoreError::EmptyPassphrase`] if nothing is left.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let mut bytes =
        Zeroizing::new(
            std::fs::read(path).map_err(|source| KeystoreError::PassphraseFile {
                path: path.to_path_buf(),
                source,
            })?,
        );
    // Truncation never reallocates, so no copy of the passphrase is left behind.
    let newline = if bytes.ends_with(b"\r\n") {
        2
    } else {
        usize::from(bytes.ends_with(b"\n"))
    };
    let len = bytes.len() - newline;
    bytes.truncate(len);
    if bytes.is_empty() {
        return Err(KeystoreError::EmptyPassphrase);
    }
    Ok(bytes)
}

/// The prompt path, with the terminal check and the prompt itself passed in for tests.
fn read_from_prompt(
    confirm: bool,
    stdin_is_terminal: bool,
    prompt: &mut dyn FnMut(&str) -> io::Result<String>,
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    if !stdin_is_terminal {
        return Err(KeystoreError::NoPassphrase);
    }
    let mut ask = |text: &str| {
        prompt(text)
            .map(|s| Zeroizing::new(s.into_bytes()))
            .map_err(|source| KeystoreError::Prompt { source })
    };
    let first = ask(PROMPT)?;
    if first.is_empty() {
        return Err(KeystoreError::EmptyPassphrase);
    }
    if confirm && *ask(CONFIRM_PROMPT)? != *first {
        return Err(KeystoreError::PassphraseMismatch);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripted(answers: &[&str]) -> impl FnMut(&str) -> io::Result<String> {
        let mut answers: Vec<String> = answers.iter().rev().map(|s| s.to_string()).collect();
        move |_prompt| {
            answers
                .pop()
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no more input"))
        }
    }

    #[test]
    fn select_order() {
        let flag = Path::new("/flag");
        let env = Path::new("/env");
        assert_eq!(
            PassphraseSource::select(Some(flag), Some(env)),
            PassphraseSource::File(flag.into())
        );
        assert_eq!(
            PassphraseSource::select(None, Some(env)),
            PassphraseSource::File(env.into())
        );
        assert_eq!(
            PassphraseSource::select(Some(Path::new("")), Some(env)),
            PassphraseSource::File(env.into())
        );
        assert_eq!(
            PassphraseSource::select(None, Some(Path::new(""))),
            PassphraseSource::Prompt
        );
        assert_eq!(
            PassphraseSource::select(None, None),
            PassphraseSource::Prompt
        );
    }

    #[test]
    fn no_terminal_means_no_passphrase() {
        let mut never = |_: &str| -> io::Result<String> { panic!("prompted without a terminal") };
        let err = read_from_prompt(false, false, &mut never).unwrap_err();
        assert!(matches!(err, KeystoreError::NoPassphrase));
        let msg = err.to_string();
        assert!(msg.contains("--password-file"), "{msg}");
        assert!(msg.contains("ICN_PASSPHRASE_FILE"), "{msg}");
    }

    #[test]
    fn prompt_once_and_confirmed() {
        let got = read_from_prompt(false, true, &mut scripted(&["hunter2"])).unwrap();
        assert_eq!(&got[..], b"hunter2");
        let got = read_from_prompt(true, true, &mut scripted(&["hunter2", "hunter2"])).unwrap();
        assert_eq!(&got[..], b"hunter2");
    }

    #[test]
    fn prompt_errors() {
        let err = read_from_prompt(true, true, &mut scripted(&["a", "b"])).unwrap_err();
        assert!(matches!(err, KeystoreError::PassphraseMismatch), "{err}");
        let err = read_from_prompt(false, true, &mut scripted(&[""])).unwrap_err();
        assert!(matches!(err, KeystoreError::EmptyPassphrase), "{err}");
        let err = read_from_prompt(false, true, &mut scripted(&[])).unwrap_err();
        assert!(matches!(err, KeystoreError::Prompt { .. }), "{err}");
    }
}
