//! The local registry of the tests (`panier_system_tests::registry`, Debian's
//! `docker-registry`): an image built on the engine is pushed with skopeo and comes back by
//! its digest; the registry is gone when the helper is dropped.

use panier_system_tests::engine::{docker, engine_url};
use panier_system_tests::registry::Registry;
use panier_system_tests::services::{TEST_IMAGE, suffix, test_image};

#[test]
fn an_image_pushed_to_the_local_registry_is_pulled_back_by_its_digest() {
    let engine = engine_url();
    test_image(&engine);
    let registry = Registry::start().unwrap();
    let repo = format!("panier-test/registry{}", suffix());
    let pushed = registry
        .push_from_engine(&engine, TEST_IMAGE, &repo, "1")
        .unwrap();
    assert_eq!(pushed.tagged, format!("{}/{repo}:1", registry.host()));
    assert_eq!(
        registry.digest_of(&repo, "1").unwrap().as_deref(),
        Some(pushed.digest.as_str()),
        "the registry answers the digest skopeo wrote"
    );
    assert_eq!(registry.digest_of(&repo, "2").unwrap(), None);

    // The engine did not get the image from the push: it pulls it, and the pulled image
    // carries the registry's digest.
    let by_digest = format!("{}/{repo}@{}", registry.host(), pushed.digest);
    assert!(docker(&engine, &["image", "inspect", &by_digest]).is_err());
    docker(&engine, &["pull", &pushed.pinned()]).unwrap();
    let digests = docker(
        &engine,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .RepoDigests}}",
            &by_digest,
        ],
    )
    .unwrap();
    assert!(digests.contains(&by_digest), "{digests}");
    docker(&engine, &["rmi", &by_digest]).unwrap();

    let url = registry.url();
    let data = registry.data_dir();
    assert!(data.join("docker/registry/v2/repositories").exists());
    drop(registry);
    assert!(
        ureq::get(&format!("{url}/v2/")).call().is_err(),
        "the registry stops with its helper"
    );
    assert!(!data.exists(), "its data directory is removed");
}
