//! Releases of many services against the real registries: `plan` of a 3-service plan file (one
//! new, one update, one no-op) gives the right actions, a schema-valid JSON plan, the step
//! summary's table and a matrix with only the legs that change something; each leg, run as the
//! runner runs the Action, promotes; a second `plan` is all no-op. A conflict blocks (exit 3);
//! the compare-and-swap refuses a leg when `prod` moved after planning, and writes nothing; a bad
//! plan file is an input error naming the file and the path in it.

use std::path::Path;

use crate::runner::{Run, step_command};
use crate::support::harness::{bin, project_root, registries, text, unique};
use crate::support::oci::{
    MANIFEST_ACCEPT, OCI_MANIFEST, TestImage, client, image_with_config, sha256_digest, upload_blob,
};

/// A small image that passes the default policy: the OCI labels (source on GitHub, a revision
/// per tag, version, created), an entrypoint and a user; one empty-tar layer.
pub(crate) fn test_image(repo: &str, tag: &str) -> TestImage {
    let service = repo.rsplit('/').next().unwrap();
    let revision = sha256_digest(format!("{repo}:{tag}").as_bytes())[7..19].to_owned();
    image_with_config(|layer_digest| {
        serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-12-01T00:00:00Z",
            "config": {
                "Entrypoint": ["/app"],
                "User": "65532",
                "Labels": {
                    "org.opencontainers.image.source": format!("https://github.com/acme/{service}"),
                    "org.opencontainers.image.revision": revision,
                    "org.opencontainers.image.version": tag,
                    "org.opencontainers.image.created": "2026-12-01T00:00:00Z",
                    "test.repo": repo,
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        })
    })
}

pub(crate) fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Pushes `image` to `host/repo` under each of `tags`.
pub(crate) fn push(host: &str, repo: &str, image: &TestImage, tags: &[&str]) {
    block_on(async {
        let c = client();
        for (_, data) in &image.blobs {
            upload_blob(&c, host, repo, data.clone(), None)
                .await
                .unwrap();
        }
        for tag in tags {
            let resp = c
                .put(format!("http://{host}/v2/{repo}/manifests/{tag}"))
                .header("content-type", OCI_MANIFEST)
                .body(image.manifest.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201, "PUT {repo}:{tag}");
        }
    });
}

/// What `host/repo:tag` points at now (`None`: absent).
pub(crate) fn tag_digest(host: &str, repo: &str, tag: &str) -> Option<String> {
    block_on(crate::support::oci::tag_digest(host, repo, tag))
}

/// Runs `image-promote plan FILE` as a step of a job.
pub(crate) fn plan(file: &Path) -> Run {
    let mut cmd = bin();
    cmd.arg("plan").arg(file);
    let (mut cmd, step) = step_command(cmd, &[]);
    let out = cmd.output().unwrap();
    step.finish(out)
}

pub(crate) fn plan_json(run: &Run) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("stdout is not the JSON plan: {e}\n{}", text(&run.out)));
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project_root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "plan is not schema-valid: {problems:#?}\n{plan:#}"
    );
    plan
}

fn actions(plan: &serde_json::Value) -> Vec<(&str, &str)> {
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect()
}

pub(crate) fn legs(run: &Run) -> Vec<serde_json::Value> {
    let matrix: serde_json::Value = serde_json::from_str(run.output("matrix"))
        .unwrap_or_else(|e| panic!("matrix output: {e}\n{}", text(&run.out)));
    matrix["include"].as_array().unwrap().clone()
}

/// Runs one matrix leg as the runner runs the Action (`promote` with the leg's inputs).
pub(crate) fn run_leg(leg: &serde_json::Value) -> Run {
    let s = |k: &str| leg[k].as_str().unwrap().to_owned();
    let (source, destination, tags, moving, digest, previous) = (
        s("source"),
        s("destination"),
        s("tags"),
        s("moving_tags"),
        s("digest"),
        s("previous_digest"),
    );
    crate::runner::run_action(&[
        ("source", &source),
        ("destination", &destination),
        ("tags", &tags),
        ("moving-tags", &moving),
        ("expected-digest", &digest),
        ("expected-previous", &previous),
    ])
}

pub(crate) struct Release {
    dir: tempfile::TempDir,
    base: String,
}

impl Release {
    pub(crate) fn new(name: &str) -> Self {
        registries();
        Self {
            dir: tempfile::tempdir().unwrap(),
            base: format!("rel/{}", unique(name)),
        }
    }

    pub(crate) fn repo(&self, service: &str) -> String {
        format!("{}/{service}", self.base)
    }

    fn write(&self, services: &[(&str, &str, &str)]) -> std::path::PathBuf {
        self.write_to(&registries().production, services)
    }

    pub(crate) fn write_to(
        &self,
        production: &str,
        services: &[(&str, &str, &str)],
    ) -> std::path::PathBuf {
        let r = registries();
        let mut yaml = String::from(
            "version: 1\ndefaults: { moving-tags: [prod], environment: production }\nservices:\n",
        );
        for (name, source_tag, version) in services {
            yaml.push_str(&format!(
                "  - name: {name}\n    source: {}/{}:{source_tag}\n    destination: {}/{}\n    tags: [{version}]\n",
                r.staging,
                self.repo(name),
                production,
                self.repo(name)
            ));
        }
        let path = self.dir.path().join("promotions.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

#[test]
fn plan_fans_out_legs_that_promote_then_all_no_op() {
    let r = registries();
    let rel = Release::new("plan");
    let (new, upd, same) = (rel.repo("new"), rel.repo("upd"), rel.repo("same"));
    let new_v1 = test_image(&new, "1.0");
    push(&r.staging, &new, &new_v1, &["1.0"]);
    let (upd_v1, upd_v2) = (test_image(&upd, "1.0"), test_image(&upd, "2.0"));
    push(&r.staging, &upd, &upd_v2, &["2.0"]);
    push(&r.production, &upd, &upd_v1, &["1.0", "prod"]);
    let same_v1 = test_image(&same, "1.0");
    push(&r.staging, &same, &same_v1, &["1.0"]);
    push(&r.production, &same, &same_v1, &["1.0", "prod"]);
    let file = rel.write(&[
        ("new", "1.0", "1.0"),
        ("upd", "2.0", "2.0"),
        ("same", "1.0", "1.0"),
    ]);

    let run = plan(&file);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    let json = plan_json(&run);
    assert_eq!(
        actions(&json),
        [("new", "promote"), ("upd", "update"), ("same", "no-op")]
    );
    assert_eq!(json["summary"]["blocked"], 0);
    assert_eq!(json["services"][1]["previous_digest"], upd_v1.digest);
    assert_eq!(json["services"][1]["outgoing"]["digest"], upd_v1.digest);
    assert_eq!(
        json["services"][1]["incoming"]["platforms"][0],
        "linux/amd64"
    );
    assert_eq!(json["services"][0]["outgoing"], serde_json::Value::Null);
    let rev = |image: &str| sha256_digest(image.as_bytes())[7..19].to_owned();
    assert_eq!(
        json["services"][1]["diff_url"],
        format!(
            "https://github.com/acme/upd/compare/{}...{}",
            rev(&format!("{upd}:1.0")),
            rev(&format!("{upd}:2.0"))
        )
    );
    assert!(
        run.summary
            .contains("[compare](https://github.com/acme/upd/compare/"),
        "{}",
        run.summary
    );

    assert_eq!(run.output("count"), "2");
    assert_eq!(run.output("changes"), "true");
    assert_eq!(run.output("blocked"), "0");
    let legs = legs(&run);
    let names: Vec<&str> = legs
        .iter()
        .map(|l| l["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["new", "upd"]);
    assert_eq!(legs[0]["previous_digest"], "none");
    assert_eq!(legs[1]["previous_digest"], upd_v1.digest);
    assert_eq!(
        legs[1]["source"],
        format!("{}/{upd}@{}", r.staging, upd_v2.digest)
    );
    assert_eq!(legs[1]["environment"], "production");
    assert!(
        run.summary
            .contains("| service | action | outgoing → incoming | tags | diff |"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("| upd | ⬆️ update |"),
        "{}",
        run.summary
    );

    for leg in &legs {
        let run = run_leg(leg);
        assert_eq!(run.code(), Some(0), "{leg}\n{}", text(&run.out));
        assert_eq!(run.output("status"), "promoted");
    }
    assert_eq!(
        tag_digest(&r.production, &new, "prod").as_deref(),
        Some(new_v1.digest.as_str())
    );
    assert_eq!(
        tag_digest(&r.production, &new, "1.0").as_deref(),
        Some(new_v1.digest.as_str())
    );
    assert_eq!(
        tag_digest(&r.production, &upd, "prod").as_deref(),
        Some(upd_v2.digest.as_str())
    );
    assert_eq!(
        tag_digest(&r.production, &upd, "2.0").as_deref(),
        Some(upd_v2.digest.as_str())
    );
    assert_eq!(
        tag_digest(&r.production, &upd, "1.0").as_deref(),
        Some(upd_v1.digest.as_str())
    );

    let again = plan(&file);
    assert_eq!(again.code(), Some(0), "{}", text(&again.out));
    let json = plan_json(&again);
    assert!(
        actions(&json).iter().all(|(_, a)| *a == "no-op"),
        "{json:#}"
    );
    assert_eq!(again.output("count"), "0");
    assert_eq!(again.output("changes"), "false");
    assert_eq!(again.output("matrix"), r#"{"include":[]}"#);
}

#[test]
fn compare_and_swap_refuses_a_leg_when_prod_moved() {
    let r = registries();
    let rel = Release::new("cas");
    let api = rel.repo("api");
    let (v1, v2, hotfix) = (
        test_image(&api, "1.0"),
        test_image(&api, "2.0"),
        test_image(&api, "hotfix"),
    );
    push(&r.staging, &api, &v2, &["2.0"]);
    push(&r.production, &api, &v1, &["1.0", "prod"]);
    let file = rel.write(&[("api", "2.0", "2.0")]);
    let run = plan(&file);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    let legs = legs(&run);
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0]["previous_digest"], v1.digest);

    // Someone moves prod after the plan was made.
    push(&r.production, &api, &hotfix, &["prod"]);
    let leg = run_leg(&legs[0]);
    assert_eq!(leg.code(), Some(3), "{}", text(&leg.out));
    let all = text(&leg.out);
    assert!(all.contains("compare-and-swap"), "{all}");
    assert!(
        all.contains(&format!(
            "points at {}, the plan expected {}",
            hotfix.digest, v1.digest
        )),
        "{all}"
    );
    assert_eq!(leg.output("status"), "refused");
    // Nothing written: prod keeps the hotfix, the version tag was not created, the manifest is absent.
    assert_eq!(
        tag_digest(&r.production, &api, "prod").as_deref(),
        Some(hotfix.digest.as_str())
    );
    assert_eq!(tag_digest(&r.production, &api, "2.0"), None);
    assert_eq!(tag_digest(&r.production, &api, &v2.digest), None);

    // A plan made now sees the hotfix, and its leg promotes.
    let run = plan(&file);
    let legs = crate::release::legs(&run);
    assert_eq!(legs[0]["previous_digest"], hotfix.digest);
    let second = run_leg(&legs[0]);
    assert_eq!(second.code(), Some(0), "{}", text(&second.out));
    assert_eq!(
        tag_digest(&r.production, &api, "prod").as_deref(),
        Some(v2.digest.as_str())
    );

    // One record for the release: the refused leg and its successful re-run, in either order.
    let audit = |run: &Run| run.workspace.path().join(run.output("audit-file"));
    let (refused, promoted) = (audit(&leg), audit(&second));
    for order in [[&refused, &promoted], [&promoted, &refused]] {
        let mut cmd = bin();
        cmd.arg("report").arg("--merge").args(order);
        let (mut cmd, step) = step_command(cmd, &[]);
        let out = step.finish(cmd.output().unwrap());
        assert_eq!(out.code(), Some(0), "{}", text(&out.out));
        let report: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
        assert_eq!(report["overall"], "success", "{report:#}");
        let services = report["services"].as_array().unwrap();
        assert_eq!(services.len(), 1, "{report:#}");
        assert_eq!(services[0]["status"], "promoted");
        assert_eq!(services[0]["destination_digest"], v2.digest);
        assert_eq!(services[0]["audit_file"], promoted.display().to_string());
        assert_eq!(services[0]["superseded"][0]["status"], "refused");
        assert_eq!(out.output("overall"), "success");
        assert!(
            out.summary.contains("| api | promoted (after 1 earlier) |"),
            "{}",
            out.summary
        );
    }
}

#[test]
fn a_conflict_or_a_missing_source_blocks_the_plan() {
    let r = registries();
    let rel = Release::new("conflict");
    let (api, web) = (rel.repo("api"), rel.repo("web"));
    let (api_v1, other) = (test_image(&api, "1.0"), test_image(&api, "other"));
    push(&r.staging, &api, &api_v1, &["1.0"]);
    // The version tag 1.0 already holds another image in production.
    push(&r.production, &api, &other, &["1.0"]);
    let web_v1 = test_image(&web, "1.0");
    push(&r.staging, &web, &web_v1, &["1.0"]);
    let file = rel.write(&[
        ("api", "1.0", "1.0"),
        ("web", "1.0", "1.0"),
        ("gone", "1.0", "1.0"),
    ]);
    let run = plan(&file);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    let json = plan_json(&run);
    assert_eq!(
        actions(&json),
        [("api", "conflict"), ("web", "promote"), ("gone", "missing")]
    );
    assert_eq!(json["summary"]["blocked"], 2);
    let reasons = json["services"][0]["reasons"].to_string();
    assert!(
        reasons.contains(&format!(
            "version tag `1.0` already points at {}",
            other.digest
        )),
        "{reasons}"
    );
    assert!(
        text(&run.out).contains("2 service(s) block the release: api (conflict), gone (missing)"),
        "{}",
        text(&run.out)
    );
    assert_eq!(run.output("blocked"), "2");
    assert!(run.summary.contains("**Blocked:**"), "{}", run.summary);
    // Nothing was written by the plan.
    assert_eq!(
        tag_digest(&r.production, &api, "1.0").as_deref(),
        Some(other.digest.as_str())
    );
    assert_eq!(tag_digest(&r.production, &web, "1.0"), None);
    assert_eq!(tag_digest(&r.production, &web, &web_v1.digest), None);
}

#[test]
fn a_bad_plan_file_names_the_path_and_writes_nothing() {
    let rel = Release::new("bad");
    let file = rel.write(&[("api", "1.0", "1.0")]);
    let text_of = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text_of.replace("    tags: [1.0]", "    tags: [1.0]\n    colour: red"),
    )
    .unwrap();
    let run = plan(&file);
    assert_eq!(run.code(), Some(2), "{}", text(&run.out));
    let all = text(&run.out);
    assert!(
        all.contains(&format!("plan file {}", file.display())),
        "{all}"
    );
    assert!(all.contains("`services[0].colour`"), "{all}");
    assert!(run.output("matrix").is_empty(), "no output for a bad plan");
    std::fs::write(
        &file,
        text_of.replace("    tags: [1.0]", "    tags: {a: 1}"),
    )
    .unwrap();
    let all = text(&plan(&file).out);
    assert!(
        all.contains("`services[0].tags`") && all.contains("expected a sequence"),
        "{all}"
    );
}

/// The manifest at `host/repo:reference` as JSON (`None`: absent).
pub(crate) fn manifest(host: &str, repo: &str, reference: &str) -> Option<serde_json::Value> {
    block_on(async {
        let resp = client()
            .get(format!("http://{host}/v2/{repo}/manifests/{reference}"))
            .header("Accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        if resp.status() == 404 {
            return None;
        }
        assert!(
            resp.status().is_success(),
            "GET {repo}:{reference}: {}",
            resp.status()
        );
        Some(crate::support::oci::json(resp).await.unwrap())
    })
}

/// The referrers of `digest` as the registry lists them: its referrers API when `api`, else the
/// fallback index at `sha256-<hex>`.
pub(crate) fn referrers(host: &str, repo: &str, digest: &str, api: bool) -> Vec<serde_json::Value> {
    let index = if api {
        block_on(async {
            let resp = client()
                .get(format!("http://{host}/v2/{repo}/referrers/{digest}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "referrers of {digest}");
            crate::support::oci::json(resp).await.unwrap()
        })
    } else {
        manifest(host, repo, &digest.replace(':', "-")).unwrap_or_default()
    };
    index["manifests"].as_array().cloned().unwrap_or_default()
}

pub(crate) const RECORD_TYPE: &str = "application/vnd.image-promote.promotion.v1+json";

/// Promote v1 through a leg, then v2: each records its promotion (subject: the promoted digest)
/// before `prod` moves, the pointer names the newest; a `prod` moved by hand is then `drift` and
/// blocks the plan. `production` is distribution 2.8 (fallback index) or ferro (referrers API).
fn history_and_drift(production: &str, api: bool) {
    let r = registries();
    let rel = Release::new(if api { "hist-api" } else { "hist-tag" });
    let repo = rel.repo("api");
    let (v1, v2, hotfix) = (
        test_image(&repo, "1.0"),
        test_image(&repo, "2.0"),
        test_image(&repo, "hotfix"),
    );
    push(&r.staging, &repo, &v1, &["1.0"]);
    push(&r.staging, &repo, &v2, &["2.0"]);
    for (version, image, previous) in [("1.0", &v1, None), ("2.0", &v2, Some(&v1))] {
        let file = rel.write_to(production, &[("api", version, version)]);
        let run = plan(&file);
        assert_eq!(run.code(), Some(0), "{}", text(&run.out));
        let json = plan_json(&run);
        let want = if previous.is_some() {
            "update"
        } else {
            "promote"
        };
        assert_eq!(json["services"][0]["action"], want, "{json:#}");
        let legs = legs(&run);
        let leg = run_leg(&legs[0]);
        assert_eq!(leg.code(), Some(0), "{}", text(&leg.out));
        assert_eq!(
            tag_digest(production, &repo, "prod").as_deref(),
            Some(image.digest.as_str())
        );
        // The record: a referrer of the promoted digest, listed with its annotations.
        let listed = referrers(production, &repo, &image.digest, api);
        // Distinct digests: a registry may list one referrer once per tag it is pushed under.
        let mut ours: Vec<&serde_json::Value> = listed
            .iter()
            .filter(|d| d["artifactType"] == RECORD_TYPE)
            .collect();
        ours.dedup_by(|a, b| a["digest"] == b["digest"]);
        assert_eq!(ours.len(), 1, "{listed:#?}");
        let a = &ours[0]["annotations"];
        assert_eq!(a["vnd.image-promote.record.kind"], "promotion");
        assert_eq!(a["vnd.image-promote.record.digest"], image.digest);
        assert_eq!(a["vnd.image-promote.record.tags"], "prod");
        let previous = previous.map_or_else(|| "none".to_owned(), |p| p.digest.clone());
        assert_eq!(a["vnd.image-promote.record.previous-digest"], previous);
        assert_eq!(
            a["vnd.image-promote.record.run-url"],
            "https://github.com/acme/app/actions/runs/4242/attempts/1"
        );
        let record = manifest(production, &repo, ours[0]["digest"].as_str().unwrap()).unwrap();
        assert_eq!(record["subject"]["digest"], image.digest);
        // The pointer names the newest record.
        let pointer = manifest(production, &repo, "image-promote.prod").unwrap();
        assert_eq!(pointer["subject"]["digest"], image.digest);
    }
    let file = rel.write_to(production, &[("api", "2.0", "2.0")]);
    let again = plan(&file);
    assert_eq!(again.code(), Some(0), "{}", text(&again.out));
    assert_eq!(plan_json(&again)["services"][0]["action"], "no-op");

    // prod moved by hand: the history shows v2 as the last promotion.
    push(production, &repo, &hotfix, &["prod"]);
    let run = plan(&file);
    assert_eq!(run.code(), Some(3), "{}", text(&run.out));
    let json = plan_json(&run);
    assert_eq!(json["services"][0]["action"], "drift", "{json:#}");
    let reasons = json["services"][0]["reasons"].to_string();
    assert!(
        reasons.contains("changed outside image-promote"),
        "{reasons}"
    );
    assert!(reasons.contains(&v2.digest), "{reasons}");
    assert_eq!(run.output("count"), "0");
    assert!(text(&run.out).contains("api (drift)"), "{}", text(&run.out));
}

#[test]
fn history_and_drift_on_distribution_fallback_tags() {
    history_and_drift(&registries().production, false);
}

#[test]
fn history_and_drift_on_the_referrers_api() {
    registries();
    history_and_drift(crate::support::harness::ferro(), true);
}
