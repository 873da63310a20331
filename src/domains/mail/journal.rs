//! The hand-over journal: a line for each email right before the relay can have all of it
//! (before its closing dot), and a line if the relay then refused it. After a crash, an email
//! still `sending` whose last line says it was handed over in its current attempt reached the
//! relay whole, so it is recorded as sent rather than sent again; one that never got that far
//! has no line and is sent again. Either way it arrives once.
//!
//! A line is one `write` to a file opened for appending: once it returns, the line is in the
//! operating system's hands and survives the process being killed (not a power cut). The
//! journal lives in the data directory, one file per host name, so replicas that share the
//! directory (a volume in the compose stack or on Kubernetes) each keep their own and a
//! restarted replica reads only its own, never another's emails in flight. The lines found
//! at start-up are recorded in the database at once, where every replica sees them. The file is rotated at `ROTATE_BYTES`, keeping one previous generation: far
//! longer than the milliseconds between a line and the database's record.
//!
//! What remains: a kill in the microseconds between the line and the dot's `write`, or
//! before a refusal after the dot is read, records an email as sent that the relay never
//! took. The journal trades that sliver for never sending an email twice.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

const ROTATE_BYTES: u64 = 1 << 20;
const HANDED: &str = "handed";
const REFUSED: &str = "refused";

pub struct DeliveryJournal {
    path: PathBuf,
    file: Mutex<Open>,
    /// Handed over and not yet recorded in the database, by email: the attempt, and the
    /// relay's answer when this process saw it.
    unrecorded: Mutex<HashMap<Uuid, Handed>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    pub attempt: i32,
    pub answer: Option<String>,
    /// Read from the file at start-up rather than handed over by this process.
    pub recovered: bool,
}

struct Open {
    file: File,
    written: u64,
}

impl DeliveryJournal {
    /// Opens `dir/mail-handed-over-<instance>.log` (`mail-handed-over.log` for an empty
    /// `instance`), reading what it and its previous generation hold.
    pub fn open(dir: &Path, instance: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = match instance {
            "" => dir.join("mail-handed-over.log"),
            name => dir.join(format!("mail-handed-over-{name}.log")),
        };
        let mut unrecorded = HashMap::new();
        for file in [previous(&path), path.clone()] {
            read_into(&file, &mut unrecorded)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path,
            file: Mutex::new(Open { file, written }),
            unrecorded: Mutex::new(unrecorded),
        })
    }

    /// The relay is about to have the whole of `email` in `attempt`.
    pub fn handed_over(&self, email: Uuid, attempt: i32) -> std::io::Result<()> {
        self.append(email, attempt, HANDED)?;
        let handed = Handed {
            attempt,
            answer: None,
            recovered: false,
        };
        self.map().insert(email, handed);
        Ok(())
    }

    /// The relay took it, with this answer: kept until the database has it.
    pub fn accepted(&self, email: Uuid, answer: &str) {
        if let Some(handed) = self.map().get_mut(&email) {
            handed.answer = Some(answer.to_string());
        }
    }

    /// The relay refused it after the hand-over (or the answer never came while this
    /// process ran): not sent, whatever the journal said.
    pub fn refused(&self, email: Uuid) -> std::io::Result<()> {
        let Some(handed) = self.map().remove(&email) else {
            return Ok(());
        };
        self.append(email, handed.attempt, REFUSED)
    }

    /// Handed over and not recorded in the database.
    pub fn unrecorded(&self, email: Uuid) -> Option<Handed> {
        self.map().get(&email).cloned()
    }

    /// Forgets what the file held for emails not in `pending`: the file keeps every email
    /// of the last run, and all but those still `sending` were recorded long ago.
    pub fn keep_recovered(&self, pending: &std::collections::HashSet<Uuid>) {
        self.map()
            .retain(|id, h| !h.recovered || pending.contains(id));
    }

    /// The database has the outcome of `email`: nothing more to remember.
    pub fn recorded(&self, email: Uuid) {
        self.map().remove(&email);
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Handed>> {
        self.unrecorded.lock().expect("journal lock")
    }

    fn append(&self, email: Uuid, attempt: i32, what: &str) -> std::io::Result<()> {
        let line = format!("{email} {attempt} {what}\n");
        let mut open = self.file.lock().expect("journal lock");
        open.file.write_all(line.as_bytes())?;
        open.written += line.len() as u64;
        if open.written >= ROTATE_BYTES {
            std::fs::rename(&self.path, previous(&self.path))?;
            open.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            open.written = 0;
        }
        Ok(())
    }
}

/// This host's name (the container's or pod's), as a journal's instance: stable across a
/// restart of the same container, so a replica finds its own journal again. Empty when
/// unknown; only letters, digits, `.`, `-` and `_` are kept.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect()
}

fn previous(path: &Path) -> PathBuf {
    path.with_extension("log.1")
}

/// The last line of each email wins; a line cut short by a crash is ignored.
fn read_into(path: &Path, into: &mut HashMap<Uuid, Handed>) -> std::io::Result<()> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).lines() {
        let line = line?;
        let mut parts = line.split(' ');
        let (Some(id), Some(attempt), Some(what), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(id), Ok(attempt)) = (id.parse(), attempt.parse()) else {
            continue;
        };
        match what {
            HANDED => {
                into.insert(
                    id,
                    Handed {
                        attempt,
                        answer: None,
                        recovered: true,
                    },
                );
            }
            REFUSED => {
                into.remove(&id);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handed(attempt: i32) -> Option<Handed> {
        Some(Handed {
            attempt,
            answer: None,
            recovered: true,
        })
    }

    #[test]
    fn a_hand_over_outlives_the_process_unless_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (taken, refused, retried) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        {
            let journal = DeliveryJournal::open(dir.path(), "test").unwrap();
            journal.handed_over(taken, 1).unwrap();
            journal.accepted(taken, "250 2.0.0 queued as A");
            assert_eq!(
                journal.unrecorded(taken).unwrap().answer.as_deref(),
                Some("250 2.0.0 queued as A")
            );
            journal.handed_over(refused, 1).unwrap();
            journal.refused(refused).unwrap();
            assert_eq!(journal.unrecorded(refused), None);
            journal.handed_over(retried, 1).unwrap();
            journal.refused(retried).unwrap();
            journal.handed_over(retried, 2).unwrap();
        }
        // As after a kill: what was handed over and not refused is back, with its attempt;
        // the answer was never written down.
        let journal = DeliveryJournal::open(dir.path(), "test").unwrap();
        assert_eq!(journal.unrecorded(taken), handed(1));
        assert_eq!(journal.unrecorded(refused), None);
        assert_eq!(journal.unrecorded(retried), handed(2));
        // Only what is still pending stays; a hand-over of this process is never dropped.
        let live = Uuid::now_v7();
        journal.handed_over(live, 1).unwrap();
        journal.keep_recovered(&[retried].into_iter().collect());
        assert_eq!(journal.unrecorded(taken), None);
        assert_eq!(journal.unrecorded(retried), handed(2));
        assert_eq!(journal.unrecorded(live).map(|h| h.recovered), Some(false));
    }

    #[test]
    fn replicas_sharing_a_directory_read_only_their_own_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        let other = DeliveryJournal::open(dir.path(), "agora-2").unwrap();
        other.handed_over(theirs, 1).unwrap();
        {
            let journal = DeliveryJournal::open(dir.path(), "agora-1").unwrap();
            journal.handed_over(mine, 1).unwrap();
        }
        // agora-1 restarts while agora-2 still has its email in flight.
        let journal = DeliveryJournal::open(dir.path(), "agora-1").unwrap();
        assert_eq!(journal.unrecorded(mine), handed(1));
        assert_eq!(journal.unrecorded(theirs), None);
        assert_eq!(other.unrecorded(mine), None);
    }

    #[test]
    fn rotation_keeps_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let journal = DeliveryJournal::open(dir.path(), "test").unwrap();
        let first = Uuid::now_v7();
        journal.handed_over(first, 1).unwrap();
        // Lines are about 45 bytes: enough of them to rotate twice.
        let lines = 2 * ROTATE_BYTES / 40;
        for _ in 0..lines {
            journal.handed_over(Uuid::now_v7(), 1).unwrap();
        }
        let last = Uuid::now_v7();
        journal.handed_over(last, 3).unwrap();
        drop(journal);
        let journal = DeliveryJournal::open(dir.path(), "test").unwrap();
        assert_eq!(journal.unrecorded(first), None);
        assert_eq!(journal.unrecorded(last), handed(3));
    }
}
