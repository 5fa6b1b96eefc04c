//! Gossip commands: publish, entries, subscribe (streaming), unsubscribe, topics.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::node::{ENDLESS, Node, OTHER_DID, news, stderr, success};

#[tokio::test]
async fn publish_inline_from_a_file_and_as_json() {
    let node = Node::start().await;
    let out = node.icnctl(&["publish", "news", "hello world"]).await;
    assert_eq!(success(&out), format!("{:064x}\n", 1));

    let file = node.dir.path().join("payload.bin");
    std::fs::write(&file, [0u8, 159, 146, 150, 10]).unwrap();
    let out = node
        .icnctl(&[
            "publish",
            "news",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ])
        .await;
    let json: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(json, serde_json::json!({ "id": format!("{:064x}", 2) }));

    assert_eq!(
        *node.backend.published.lock().unwrap(),
        vec![
            ("news".to_string(), b"hello world".to_vec()),
            ("news".to_string(), vec![0, 159, 146, 150, 10]),
        ]
    );

    let missing = node.dir.path().join("nope.bin");
    let out = node
        .icnctl(&["publish", "news", "--file", missing.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "icnctl: error: cannot read {}: ",
            missing.display()
        )),
        "{err}"
    );
    assert_eq!(node.backend.published.lock().unwrap().len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn entries_in_text_and_json() {
    let node = Node::start().await;
    let out = node.icnctl(&["entries", "news"]).await;
    assert_eq!(
        success(&out),
        "2023-11-14T22:13:20Z  z6MkOtherAcc  0a0a0a0a0a0a  hello\n\
         2023-11-14T22:14:20Z  z6MkOurNode   0b0b0b0b0b0b  <3 bytes>\n"
    );

    let out = node
        .icnctl(&["entries", "news", "--limit", "5", "--json"])
        .await;
    let json: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["author"], OTHER_DID);
    assert_eq!(json[0]["payload"], "aGVsbG8=");
    assert_eq!(json[1]["payload"], "/wAB");
    assert_eq!(json[1]["timestamp_ms"], 1_700_000_060_000_u64);
    assert_eq!(*node.backend.entry_limits.lock().unwrap(), vec![100, 5]);

    let out = node.icnctl(&["entries", "quiet"]).await;
    assert_eq!(success(&out), "no entries\n");
    node.stop().await;
}

#[tokio::test]
async fn subscribe_prints_the_streamed_entries() {
    let node = Node::start().await;
    let out = node.icnctl(&["subscribe", "news"]).await;
    assert_eq!(
        success(&out),
        "joined news\n\
         2023-11-14T22:13:20Z  z6MkOtherAcc  0a0a0a0a0a0a  hello\n\
         2023-11-14T22:14:20Z  z6MkOurNode   0b0b0b0b0b0b  <3 bytes>\n"
    );

    let out = node.icnctl(&["subscribe", "old", "--json"]).await;
    let text = success(&out);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        serde_json::json!({ "topic": "old", "joined": false })
    );
    assert_eq!(lines[1], serde_json::to_value(&news()[0]).unwrap());
    assert_eq!(lines[2], serde_json::to_value(&news()[1]).unwrap());
    node.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn subscribe_stops_cleanly_on_ctrl_c() {
    let node = Node::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_icnctl"))
        .arg("--data-dir")
        .arg(node.dir.path())
        .args(["subscribe", ENDLESS])
        .env_remove("ICN_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("no output from icnctl subscribe")
            .unwrap()
            .expect("icnctl subscribe ended early");
        seen.push(line);
    }
    assert_eq!(seen[0], format!("joined {ENDLESS}"));
    assert!(seen[1].ends_with("  hello"), "{seen:?}");

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("icnctl subscribe ignored Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    node.stop().await;
}

#[tokio::test]
async fn unsubscribe_and_topics() {
    let node = Node::start().await;
    assert_eq!(
        success(&node.icnctl(&["unsubscribe", "news"]).await),
        "left news\n"
    );
    assert_eq!(
        success(&node.icnctl(&["unsubscribe", "other"]).await),
        "not joined other\n"
    );
    assert_eq!(
        success(&node.icnctl(&["topics"]).await),
        "TOPIC  ENTRIES\nnews   2\n"
    );
    let out = node.icnctl(&["topics", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
    assert_eq!(json, serde_json::json!([{ "topic": "news", "entries": 2 }]));
    node.stop().await;
}
