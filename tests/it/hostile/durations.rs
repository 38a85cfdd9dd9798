//! Item 2: durations no date can hold are refused where they are written, by every command
//! that reads them, never a panic later.

use crate::support::binary::klaxon;
use crate::support::write;

#[test]
fn absurd_durations_are_refused_with_their_place_by_check_test_and_demo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("klaxon.yaml"),
        "sources:\n  app: { type: file, include: [\"logs/*.log\"], poll_interval: 99999999999999999999s }\n\
         channels:\n  out: { type: console }\nrules: rules\nretention: 100000000d\n",
    );
    write(
        &d.join("rules/r.yaml"),
        "name: r\nsource: app\nquery: x\ntype: frequency\nthreshold: 1\nwindow: 18446744073709551615s1s\nrealert: 100000000d\nnotify: [out]\n",
    );
    write(&d.join("logs/app.log"), "x\n");
    let check = || {
        let out = klaxon()
            .current_dir(d)
            .args(["check", "-c", "klaxon.yaml"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let text = check();
    assert!(!text.contains("panicked"), "{text}");
    assert!(
        text.contains("klaxon.yaml:2:62: error: duration `99999999999999999999s` is too long"),
        "{text}"
    );
    // klaxon.yaml is read by serde: fixed, the next bad duration in it shows.
    let config = std::fs::read_to_string(d.join("klaxon.yaml")).unwrap();
    write(
        &d.join("klaxon.yaml"),
        &config.replace("99999999999999999999s", "1s"),
    );
    let text = check();
    assert!(
        text.contains("klaxon.yaml:6:12") && text.contains("at most 3650d"),
        "{text}"
    );
    let test = klaxon()
        .current_dir(d)
        .args([
            "test",
            "--no-config",
            "rules/r.yaml",
            "--input",
            "logs/app.log",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&test.stderr);
    assert!(!test.status.success());
    assert!(
        text.contains("r.yaml:6:9") && text.contains("at most 3650d"),
        "{text}"
    );
    assert!(text.contains("r.yaml:7:10"), "realert: {text}");
    let demo = klaxon()
        .args(["demo", "--duration", "100000000d"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&demo.stderr);
    assert!(!demo.status.success());
    assert!(text.contains("at most 3650d"), "{text}");
}
