//! The simulator's optional data file: instances and plugin resources loaded on start and
//! rewritten, atomically and durably, after every change, so that simulated accounts survive a
//! restart.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::model::lock;
use super::plugins::PluginStore;
use super::store::{Record, Store};

/// What the file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Contents {
    /// Every instance, in creation order.
    pub instances: Vec<Record>,
    /// Every account's plugin resources; left out while there are none, so that a file
    /// written before the simulator served plugins reads the same.
    #[serde(default, skip_serializing_if = "PluginStore::is_empty")]
    pub plugins: PluginStore,
}

/// The data file and what of the store is on disk.
#[derive(Debug)]
pub(crate) struct DataFile {
    path: PathBuf,
    /// The store version last written. Held while writing, so that writes never interleave and
    /// a caller that waited for it knows its change is on disk.
    written: Mutex<Option<u64>>,
}

impl DataFile {
    /// The file at `path`, nothing written yet.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            written: Mutex::new(None),
        }
    }

    /// What the file holds, or `None` when there is no file.
    pub fn read(&self) -> io::Result<Option<Contents>> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot read {}: {err}", self.path.display()),
                ))
            }
        };
        let contents: Contents = serde_json::from_slice(&text).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a simulator data file: {err}", self.path.display()),
            )
        })?;
        Ok(Some(contents))
    }

    /// Writes the store unless its current version is already on disk. Blocking: call it from
    /// `spawn_blocking` in async code. When it returns `Ok`, every change made to the store
    /// before the call is on disk, so concurrent callers share one write.
    pub fn save(&self, store: &Mutex<Store>) -> io::Result<()> {
        let mut written = lock(&self.written);
        let (version, contents) = {
            let store = lock(store);
            if *written == Some(store.version()) {
                return Ok(());
            }
            let contents = Contents {
                instances: store.snapshot(),
                plugins: store.plugins().clone(),
            };
            (store.version(), contents)
        };
        let mut bytes = serde_json::to_vec_pretty(&contents).map_err(io::Error::other)?;
        bytes.push(b'\n');
        crate::support::fs::write_atomic(&self.path, &bytes, None).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot write {}: {err}", self.path.display()),
            )
        })?;
        *written = Some(version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::{Duration, SystemTime};

    #[test]
    fn saves_only_new_versions_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("sim.json"));
        assert!(file.read().unwrap().is_none());
        let store = Mutex::new(Store::new(StdRng::seed_from_u64(1)));
        lock(&store)
            .create(
                "AC0123456789abcdef0123456789abcdef",
                Some(true),
                SystemTime::now(),
                Duration::from_secs(1),
            )
            .unwrap();
        file.save(&store).unwrap();
        let contents = file.read().unwrap().unwrap();
        assert_eq!(contents.instances, lock(&store).snapshot());
        assert!(contents.plugins.is_empty());
        let text = std::fs::read_to_string(dir.path().join("sim.json")).unwrap();
        assert!(!text.contains("plugins"), "{text}");

        // Nothing changed: the file is not rewritten (a stray edit survives).
        std::fs::write(dir.path().join("sim.json"), "{\"instances\": []}").unwrap();
        file.save(&store).unwrap();
        assert!(file.read().unwrap().unwrap().instances.is_empty());
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.json");
        std::fs::write(&path, "not json").unwrap();
        let err = DataFile::new(path).read().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("sim.json"), "{err}");
    }
}
