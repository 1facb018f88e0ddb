//! Password hashing with argon2id at OWASP's recommended minimum
//! (m = 19 MiB, t = 2, p = 1), PHC strings in storage.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Bytes of the raw hash stored in the PHC string.
const OUTPUT_LEN: usize = 32;

/// Argon2's working memory (19 MiB per computation), reused: a buffer is
/// taken for one computation and put back, so a storm of logins keeps at
/// most [`concurrency`] buffers alive instead of allocating and freeing
/// 19 MiB each time (which the allocator's per-thread arenas keep: the
/// resident size grew by hundreds of MiB). At most [`concurrency`]
/// computations run at once (the gate below), so the pool never holds more.
fn pool() -> &'static std::sync::Mutex<Vec<Box<[Block]>>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<Vec<Box<[Block]>>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(|| std::sync::Mutex::new(Vec::new()))
}

/// Runs `f` with a buffer of at least `blocks` argon2 blocks from the pool.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut buf = pool()
        .lock()
        .ok()
        .and_then(|mut p| p.pop())
        .filter(|b| b.len() >= blocks)
        .unwrap_or_else(|| vec![Block::default(); blocks.max(MEMORY_BLOCKS)].into_boxed_slice());
    let out = f(&mut buf);
    if let Ok(mut p) = pool().lock()
        && p.len() < concurrency()
    {
        p.push(buf);
    }
    out
}

/// Blocks of today's parameters (1 KiB each).
const MEMORY_BLOCKS: usize = MEMORY_KIB as usize;

/// Hashes a password (CPU-heavy: call from `spawn_blocking`) into a PHC
/// string, with working memory from the pool.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let a = argon2();
    let mut out = [0u8; OUTPUT_LEN];
    with_memory(a.params().block_count(), |mem| {
        a.hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, mem)
    })
    .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let output =
        argon2::password_hash::Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}${}${output}",
        salt.as_str()
    ))
}

/// Checks a password against a stored PHC string; false for any mismatch
/// or unreadable hash. Older parameters are verified with theirs.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let expected = expected.as_bytes();
    if expected.len() > 64 || expected.len() < 4 {
        return false;
    }
    let a = Argon2::new(algorithm, version, params);
    let mut out = [0u8; 64];
    let out = &mut out[..expected.len()];
    let ok = with_memory(a.params().block_count(), |mem| {
        a.hash_password_into_with_memory(password.as_bytes(), salt_raw, out, mem)
    });
    ok.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(out, expected).is_ok()
}

/// A real hash of a random password, verified against when the account
/// does not exist so an unknown email costs the same time as a wrong
/// password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Computations at once per process: `TICKETGW_PASSWORD_HASHING` through
/// [`configure`] (default 2). Each holds a 19 MiB buffer and a core for
/// tens of milliseconds, so a burst of logins queues here instead of
/// spreading over hundreds of blocking threads and starving the runtime.
static CONCURRENCY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2);

/// Sets how many hashes run at once (and so how many buffers the pool
/// keeps). Call before the first hash; later calls do not resize the gate.
pub fn configure(concurrency: usize) {
    CONCURRENCY.store(concurrency.max(1), std::sync::atomic::Ordering::Relaxed);
}

fn concurrency() -> usize {
    CONCURRENCY
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(1)
}

fn gate() -> &'static tokio::sync::Semaphore {
    static GATE: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    GATE.get_or_init(|| tokio::sync::Semaphore::new(concurrency()))
}

/// [`hash`] on a blocking thread, at most [`configure`]d many at once.
pub async fn hash_async(password: String) -> anyhow::Result<String> {
    let _permit = gate().acquire().await?;
    tokio::task::spawn_blocking(move || hash(&password)).await?
}

/// [`verify`] on a blocking thread, at most [`configure`]d many at once.
pub async fn verify_async(password: String, phc: String) -> anyhow::Result<bool> {
    let _permit = gate().acquire().await?;
    Ok(tokio::task::spawn_blocking(move || verify(&password, &phc)).await?)
}

/// Whether the stored hash uses weaker parameters than today's (rehash on login).
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() < MEMORY_KIB
        || params.t_cost() < ITERATIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = hash("correct horse battery staple").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!verify("x", "not a hash"));
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn hashes_from_the_pool_match_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours verifies with argon2's own verifier, and the reverse.
        let h = hash("a password of some length").expect("hash");
        let parsed = PasswordHash::new(&h).expect("phc");
        assert!(
            argon2()
                .verify_password(b"a password of some length", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let reference = argon2()
            .hash_password(b"another one", &salt)
            .expect("reference")
            .to_string();
        assert!(verify("another one", &reference));
        assert!(!verify("another on", &reference));
        // Older, weaker parameters still verify (and ask for a rehash).
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"legacy", &salt)
        .expect("weak")
        .to_string();
        assert!(verify("legacy", &weak));
        assert!(needs_rehash(&weak));
        // Argon2i / argon2d hashes too.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(MEMORY_KIB, 2, 1, None).expect("p"),
        )
        .hash_password(b"old", &salt)
        .expect("2i")
        .to_string();
        assert!(verify("old", &argon2i));
    }
}
