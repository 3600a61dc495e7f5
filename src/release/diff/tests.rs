//! Unit tests of the release diff: each action judged from tag plans and history, no registry.
use super::*;

fn service() -> Service {
    let plan = PlanFile::parse(
        "version: 1\nservices:\n  - name: api\n    source: a.io/x:1.0\n    destination: b.io/x\n    tags: [1.0, release]\n    moving-tags: [prod, latest]\n",
        "p.yaml",
    )
    .unwrap();
    plan.services[0].clone()
}

fn d(n: u8) -> Digest {
    Digest::sha256_of(&[n])
}

fn heads(v: [Option<u8>; 4]) -> Vec<(String, Option<Digest>)> {
    ["1.0", "release", "prod", "latest"]
        .into_iter()
        .zip(v)
        .map(|(t, n)| (t.to_owned(), n.map(d)))
        .collect()
}

#[test]
fn actions_follow_the_tags() {
    let s = service();
    let new = d(1);
    let act = |h| decide(&s, Some(&new), heads(h)).0;
    assert_eq!(act([None, None, None, None]), Action::Promote);
    assert_eq!(act([Some(1), Some(1), Some(1), Some(1)]), Action::NoOp);
    assert_eq!(act([None, None, Some(2), None]), Action::Update);
    assert_eq!(act([Some(1), Some(1), Some(2), Some(1)]), Action::Update);
    assert_eq!(act([Some(1), None, Some(1), Some(1)]), Action::Promote);
    // `release` is not version-like, but the plan file lists it under `tags`: immutable.
    assert_eq!(act([None, Some(2), Some(2), None]), Action::Conflict);
    assert_eq!(act([Some(2), None, None, None]), Action::Conflict);
    let (_, tags, reasons) = decide(&s, Some(&new), heads([Some(2), None, None, None]));
    assert!(
        reasons[0].contains("version tag `1.0` already points at"),
        "{reasons:?}"
    );
    assert_eq!(tags[0].kind, TagKind::Immutable);
    assert_eq!(tags[2].kind, TagKind::Moving);
    assert_eq!(decide(&s, None, heads([None; 4])).0, Action::Missing);
    assert!(Action::Missing.blocks() && Action::Conflict.blocks());
    assert!(Action::Update.changes() && !Action::NoOp.changes());
}

#[test]
fn previous_digest_is_the_moving_tags() {
    let s = service();
    let (_, tags, _) = decide(&s, Some(&d(1)), heads([Some(3), None, None, Some(2)]));
    assert_eq!(previous_digest(&tags), Some(d(2)));
    let (_, tags, _) = decide(&s, Some(&d(1)), heads([Some(3), None, None, None]));
    assert_eq!(previous_digest(&tags), None);
}

#[test]
fn history_gives_drift_and_held() {
    let record = |kind, n: u8, previous: u8| Record {
        kind,
        service: "api".into(),
        repository: "b.io/x".into(),
        tags: vec!["prod".into()],
        digest: d(n),
        previous_digest: Some(d(previous)),
        run_url: None,
        promotion_id: "id".into(),
        created_at: "2026-12-02T00:00:00Z".into(),
        reason: None,
    };
    let promoted = record(Kind::Promotion, 1, 0);
    // No history at all: the tool's first use is never drift.
    assert_eq!(
        judge_history(Action::Update, Some(&d(2)), Some(&d(7)), None),
        None
    );
    // prod holds what the last promotion recorded: fine.
    assert_eq!(
        judge_history(Action::Update, Some(&d(2)), Some(&d(1)), Some(&promoted)),
        None
    );
    let (a, why) =
        judge_history(Action::Update, Some(&d(2)), Some(&d(7)), Some(&promoted)).unwrap();
    assert_eq!(a, Action::Drift);
    assert!(why.contains("changed outside image-promote"), "{why}");
    // prod still holds what the last record moved from (0): that promotion failed after writing
    // its record and before moving the tag; the next plan is an update, not drift.
    assert_eq!(
        judge_history(Action::Update, Some(&d(2)), Some(&d(0)), Some(&promoted)),
        None
    );
    // Rolled back from 2 to 1: promoting 2 again is held; another digest is an update.
    let rolled = record(Kind::Rollback, 1, 2);
    let (a, _) = judge_history(Action::Update, Some(&d(2)), Some(&d(1)), Some(&rolled)).unwrap();
    assert_eq!(a, Action::Held);
    assert_eq!(
        judge_history(Action::Update, Some(&d(3)), Some(&d(1)), Some(&rolled)),
        None
    );
    // A blocked entry stays as it is.
    assert_eq!(
        judge_history(Action::Conflict, Some(&d(2)), Some(&d(7)), Some(&promoted)),
        None
    );
    assert!(Action::Drift.blocks() && Action::Held.blocks());
}

#[test]
fn compare_links_only_for_github() {
    let gh = Some("https://github.com/acme/api");
    assert_eq!(
        compare_url(gh, Some("e92d83d"), Some("fa32058")).as_deref(),
        Some("https://github.com/acme/api/compare/e92d83d...fa32058")
    );
    assert!(
        compare_url(
            Some("https://github.com/acme/api.git/"),
            Some("a"),
            Some("b")
        )
        .is_some()
    );
    assert!(compare_url(gh, Some("a"), Some("a")).is_none());
    assert!(compare_url(gh, None, Some("a")).is_none());
    assert!(compare_url(Some("https://gitlab.com/acme/api"), Some("a"), Some("b")).is_none());
    assert!(compare_url(gh, Some("a b"), Some("c")).is_none());
    assert!(
        compare_url(
            Some("https://github.com/acme/api/tree/x"),
            Some("a"),
            Some("b")
        )
        .is_none()
    );
}
