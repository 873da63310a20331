//! argon2id hashing on the blocking pool, a bounded number at a time, so a login storm
//! queues for hashing instead of starving every other request of CPU.
//!
//! Each hash needs `memory_kib` of working memory (19 MiB by default). Allocated per hash, the
//! freed blocks stayed in the allocator arenas of whichever blocking-pool threads ran them, so
//! a storm grew the process by that much per thread. Instead one working memory per permit is
//! kept and reused: a storm of any size holds `max_concurrent x memory_kib`, and the pages are
//! already mapped when the next hash starts.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{
    rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::settings::PasswordSettings;

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// Working memories not in use; never more than the permits.
    memories: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the account does not exist, so both cases take the same time.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("auth.password: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let permits = match settings.max_concurrent {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let mut memory = vec![Block::default(); argon2.params().block_count()];
        let dummy_hash = hash_with(&argon2, &mut memory, "agora dummy password for timing")?;
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(permits)),
            memories: Arc::new(Mutex::new(vec![memory])),
            dummy_hash,
        })
    }

    /// Runs `work` on the blocking pool with a working memory, once a permit is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>, &mut Vec<Block>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let (argon2, memories) = (self.argon2.clone(), self.memories.clone());
        Ok(tokio::task::spawn_blocking(move || {
            let taken = memories.lock().unwrap_or_else(|e| e.into_inner()).pop();
            // At most one per permit is ever made.
            let mut memory =
                taken.unwrap_or_else(|| vec![Block::default(); argon2.params().block_count()]);
            let result = work(&argon2, &mut memory);
            memories
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(memory);
            result
        })
        .await?)
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.blocking(move |argon2, memory| hash_with(argon2, memory, &password))
            .await?
    }

    /// True if `password` matches `hash`; with no hash, checks a dummy and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let matches = self
            .blocking(move |_, memory| {
                PasswordHash::new(&hash).is_ok_and(|parsed| matches(&parsed, &password, memory))
            })
            .await?;
        Ok(known && matches)
    }
}

/// A new salted hash of `password`, in the PHC string format.
fn hash_with(
    argon2: &Argon2<'_>,
    memory: &mut [Block],
    password: &str,
) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let length = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = digest(argon2, memory, password, salt.as_salt(), length)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` gives the stored hash, with the parameters stored in it (a hash made
/// under other settings still verifies; only then is other memory allocated).
fn matches(stored: &PasswordHash<'_>, password: &str, memory: &mut [Block]) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let configured = || -> Option<Argon2<'static>> {
        let version = stored.version.map(Version::try_from).transpose().ok()?;
        Some(Argon2::new(
            Algorithm::try_from(stored.algorithm).ok()?,
            version.unwrap_or_default(),
            Params::try_from(stored).ok()?,
        ))
    };
    let Some(argon2) = configured() else {
        return false;
    };
    let computed = if argon2.params().block_count() == memory.len() {
        digest(&argon2, memory, password, salt, expected.len())
    } else {
        let mut other = vec![Block::default(); argon2.params().block_count()];
        digest(&argon2, &mut other, password, salt, expected.len())
    };
    // `Output` compares in constant time.
    computed.is_ok_and(|computed| computed == expected)
}

fn digest(
    argon2: &Argon2<'_>,
    memory: &mut [Block],
    password: &str,
    salt: Salt<'_>,
    length: usize,
) -> anyhow::Result<Output> {
    let mut raw = [0u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut raw)
        .map_err(|e| anyhow::anyhow!("password salt: {e}"))?;
    Output::init_with(length, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *memory)
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = PasswordHasher::new(&PasswordSettings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        })
        .unwrap();
        let hash = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher
            .verify("correct horse battery".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse battery".into(), Some(hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify("agora dummy password for timing".into(), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let settings = PasswordSettings {
            memory_kib: 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 1,
        };
        let hasher = PasswordHasher::new(&settings).unwrap();
        let ours = hasher.hash("correct horse battery".into()).await.unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 2, 1, None).unwrap(),
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        // Made elsewhere, with other parameters (other memory): verifies too.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
        assert!(hasher
            .verify("correct horse battery".into(), Some(theirs.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong".into(), Some(theirs))
            .await
            .unwrap());
    }
}
