//! Reading a new password for `flowtrack user set-password`: from standard input when it is
//! not a terminal (a pipe or a file, for scripts), else from a prompt without echo, twice.
//! Never from the command line, where other users of the machine can read it (`ps`,
//! `/proc/<pid>/cmdline`) and the shell keeps it in its history.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use anyhow::{Context, bail};

/// Bytes read from a pipe at most: 128 characters are 512 bytes of UTF-8 at most, so a
/// longer line is refused by the length rule without reading an unbounded input.
const MAX_LINE_BYTES: u64 = 1024;

/// The new password, from standard input or the terminal.
pub fn read_new_password() -> anyhow::Result<String> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        prompt_twice()
    } else {
        read_line(&mut stdin.lock())
    }
}

/// The first line of `input` without its line end (`\n`, or `\r\n` from a file written on
/// Windows).
fn read_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = Vec::new();
    input
        .by_ref()
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut line)
        .context("cannot read the password from standard input")?;
    if line.is_empty() {
        bail!("no password on standard input (one line expected)");
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() as u64 == MAX_LINE_BYTES {
        bail!("the password must be at most 128 characters");
    }
    String::from_utf8(line).map_err(|_| anyhow::anyhow!("the password is not valid UTF-8"))
}

/// Asks twice on the terminal, without echo; the two must match.
fn prompt_twice() -> anyhow::Result<String> {
    let first = prompt("New password: ")?;
    let second = prompt("Repeat the new password: ")?;
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

/// One line from the terminal on standard input, echo off while it is typed. The prompt
/// goes to standard error, so it shows even when standard output is redirected.
fn prompt(text: &str) -> anyhow::Result<String> {
    let mut stderr = io::stderr().lock();
    write!(stderr, "{text}")?;
    stderr.flush()?;
    let line = {
        let _quiet = echo::Off::on_stdin().context("cannot turn off the terminal's echo")?;
        read_line(&mut io::stdin().lock())
    };
    // The newline the user typed was not echoed.
    writeln!(stderr)?;
    line
}

#[cfg(unix)]
mod echo {
    use std::io;
    use std::mem::MaybeUninit;

    /// The terminal on standard input with echo off, restored when dropped (also when the
    /// read fails).
    pub struct Off {
        saved: libc::termios,
    }

    impl Off {
        pub fn on_stdin() -> io::Result<Self> {
            let mut term = MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr fills the termios it is given when it returns 0; it is only
            // read after that.
            let saved = unsafe {
                if libc::tcgetattr(libc::STDIN_FILENO, term.as_mut_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                term.assume_init()
            };
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            set(&quiet)?;
            Ok(Self { saved })
        }
    }

    fn set(term: &libc::termios) -> io::Result<()> {
        // SAFETY: a valid termios for the standard input's terminal.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, term) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    impl Drop for Off {
        fn drop(&mut self) {
            let _ = set(&self.saved);
        }
    }
}

#[cfg(not(unix))]
mod echo {
    /// No echo control here: the prompt is refused rather than showing the password.
    pub struct Off;

    impl Off {
        pub fn on_stdin() -> std::io::Result<Self> {
            Err(std::io::Error::other(
                "no hidden prompt on this platform; pipe the password on standard input",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(input: &[u8]) -> anyhow::Result<String> {
        read_line(&mut io::Cursor::new(input))
    }

    #[test]
    fn reads_one_line_without_its_end() {
        assert_eq!(line(b"s3cret pass\n").unwrap(), "s3cret pass");
        assert_eq!(line(b"s3cret pass\r\n").unwrap(), "s3cret pass");
        assert_eq!(line(b"no newline").unwrap(), "no newline");
        assert_eq!(line(b" spaced \nsecond line\n").unwrap(), " spaced ");
        assert_eq!(line(b"\n").unwrap(), "");
    }

    #[test]
    fn refuses_empty_endless_and_non_utf8_input() {
        assert!(line(b"").is_err());
        assert!(line(&[b'x'; 5000]).is_err());
        assert!(line(b"\xff\xfe\n").is_err());
    }
}
