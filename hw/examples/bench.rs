//! Figures, not a test: probe time on this machine (target ≤ 2 s) and wipe-verification
//! throughput (sample and full read-back) on a real loop device.
//!
//! Run as root: `cargo run --release -p panier-hw --example bench [-- SIZE_MIB]`

use std::process::Command;
use std::time::Instant;

use panier_hw::blockdev;
use panier_hw::certificate::VerifyMode;
use panier_hw::host::Host;
use panier_hw::wipe;

fn main() {
    let size_mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(512);

    let host = Host::system();
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let p = panier_hw::probe::probe(&host);
        times.push(started.elapsed().as_secs_f64());
        std::hint::black_box(p);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "probe: median {:.1} ms, max {:.1} ms over 5 runs (target ≤ 2000 ms)",
        times[2] * 1e3,
        times[4] * 1e3
    );
    let started = Instant::now();
    let s = panier_hw::hardware_summary(panier_hw::i18n::Lang::Fr);
    println!(
        "probe + verdict: {:.1} ms ({} disks, {} NICs, {} notes)",
        started.elapsed().as_secs_f64() * 1e3,
        s.probe.disks.len(),
        s.probe.nics.len(),
        s.probe.notes.len()
    );

    // A zero-filled loop device, claimed exactly like a wipe does.
    let dir = std::env::temp_dir().join(format!("panier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("disk.img");
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(size_mib << 20))
        .expect("backing file");
    // Allocate real blocks so reads hit the storage, not a sparse hole.
    let status = Command::new("fallocate")
        .args(["-z", "-l", &format!("{}", size_mib << 20)])
        .arg(&file)
        .status();
    assert!(status.is_ok_and(|s| s.success()), "fallocate");
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&file)
        .output()
        .expect("losetup");
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !dev.is_empty(),
        "losetup failed (run as root)"
    );
    let name = dev.trim_start_matches("/dev/").to_string();
    // Detach and clean up even if a step below panics.
    struct Cleanup(String, std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("losetup").args(["-d", &self.0]).status();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _cleanup = Cleanup(dev.clone(), dir.clone());
    {
        let claimed = blockdev::claim_for_destruction(&host, std::path::Path::new(&dev), &name)
            .expect("claim loop device");
        let size = size_mib << 20;
        for (mode, samples) in [(VerifyMode::Sample, 1024), (VerifyMode::Full, 0)] {
            let v =
                wipe::verify_zeros(&claimed.file, &name, size, mode, samples, 42).expect("verify");
            assert!(v.passed);
            println!(
                "verify {:?} on a {size_mib} MiB loop device: {} regions, {:.1} MB in {:.3} s = {:.0} MB/s",
                mode,
                v.regions_checked,
                v.bytes_checked as f64 / 1e6,
                v.seconds,
                v.bytes_checked as f64 / v.seconds.max(1e-9) / 1e6
            );
        }
    }
}
