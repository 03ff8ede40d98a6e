//! The workbench in a real terminal (tmux): start it, walk setup → training → evaluation → runs
//! → compare with keys, export plots, quit, and check that the terminal left the alternate
//! screen. tmux must be installed (`.ci/run` installs it).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{toy_rows, write_csv};

struct Tmux {
    /// A private server socket inside the test's folder: no clash with other tmux servers,
    /// and nothing left behind.
    socket: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (apt-get install tmux; .ci/run does it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "bb", k]);
            // One key at a time: Esc followed by a letter would read as Alt+letter.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "bb"])
    }

    /// Waits until the screen shows `text`; fails with the screen after `secs`.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "waited {secs} s for {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Moves `downs` fields down the form and types a value into that field.
fn set_field(tmux: &Tmux, downs: usize, value: &str) {
    let mut keys = vec!["Down"; downs];
    keys.push("Enter");
    keys.extend(["BSpace"; 8]);
    tmux.keys(&keys);
    tmux.run(&["send-keys", "-t", "bb", "-l", value]);
    tmux.keys(&["Enter"]);
}

/// A shipped-style dataset in `root/datasets/toy`, and the workbench started on it in tmux.
/// Its exit code lands in `root/exit`.
fn start(root: &Path, name: &str) -> Tmux {
    let data = root.join("datasets/toy");
    std::fs::create_dir_all(&data).expect("mkdir");
    write_csv(&data.join("train.csv"), &toy_rows(48, 1));
    write_csv(&data.join("valid.csv"), &toy_rows(16, 2));
    let runs = root.join("runs");
    let exit_file = root.join("exit");
    let command = format!(
        "HF_HUB_OFFLINE=1 {bin} --runs-dir {runs} --datasets-dir {datasets} --recipes-dir {recipes}; echo $? > {exit}; sleep 60",
        bin = env!("CARGO_BIN_EXE_bertbench"),
        runs = runs.display(),
        datasets = root.join("datasets").display(),
        recipes = root.join("recipes").display(),
        exit = exit_file.display(),
    );
    let tmux = Tmux { socket: root.join(format!("tmux-{name}.sock")) };
    tmux.run(&["new-session", "-d", "-s", "bb", "-x", "100", "-y", "30", &command]);
    tmux
}

fn wait_for_exit(tmux: &Tmux, root: &Path) -> String {
    let exit_file = root.join("exit");
    let start = Instant::now();
    while !exit_file.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "bertbench did not quit:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(50));
    std::fs::read_to_string(&exit_file).expect("exit code").trim().to_owned()
}

fn alternate_screen(tmux: &Tmux) -> String {
    tmux.run(&["display-message", "-p", "-t", "bb", "#{alternate_on}"]).trim().to_owned()
}

#[test]
fn walk_through_the_workbench_in_a_real_terminal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let runs = root.join("runs");
    let tmux = start(root, "walk");

    // Setup: the shipped dataset is previewed; a tiny model from scratch trains briefly.
    tmux.wait_for("48 examples", 30);
    set_field(&tmux, 7, "3"); // epochs
    set_field(&tmux, 1, "0.001"); // learning rate
    set_field(&tmux, 1, "8"); // batch size
    let screen = tmux.wait_for("1e-3", 5);
    assert!(screen.contains("batch size             8"), "{screen}");
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("FINISHED", 120);
    assert!(screen.contains("step 18 / 18"), "{screen}");

    // Evaluation of the run that just finished.
    tmux.keys(&["3"]);
    let screen = tmux.wait_for("Confusion (valid", 5);
    assert!(screen.contains("accuracy"), "{screen}");
    tmux.keys(&["f"]);
    tmux.wait_for("Predictions: all (16)", 5);

    // Runs: the record is listed as finished; mark it and compare.
    tmux.keys(&["4"]);
    let screen = tmux.wait_for("finished", 10);
    assert!(screen.contains("toy"), "{screen}");
    tmux.keys(&["Space", "c"]);
    tmux.wait_for("Settings that differ", 10);
    tmux.keys(&["x"]);
    tmux.wait_for("plot(s) to", 30);
    let plots: Vec<_> = std::fs::read_dir(runs.join("plots")).expect("plots folder").collect();
    assert!(plots.len() >= 3, "loss, metrics and confusion plots: {plots:?}");

    // Help, then quit: exit code 0 and the normal screen is back.
    tmux.keys(&["?"]);
    tmux.wait_for("What the numbers mean", 5);
    tmux.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(200));
    tmux.keys(&["q"]);
    assert_eq!(wait_for_exit(&tmux, root), "0");
    assert_eq!(alternate_screen(&tmux), "0", "the terminal left the alternate screen");
    let status = std::fs::read_to_string(only_run(&runs).join("status")).expect("status");
    assert!(status.starts_with("finished"), "{status}");
}

fn only_run(runs: &Path) -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(runs)
        .expect("runs")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("status").is_file())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

#[test]
fn sigterm_during_a_run_stops_it_cleanly_and_restores_the_terminal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let tmux = start(root, "sigterm");
    tmux.wait_for("48 examples", 30);
    set_field(&tmux, 7, "400"); // epochs: long enough to be mid-run
    tmux.keys(&["s"]);
    tmux.wait_for("TRAINING", 60);
    assert_eq!(alternate_screen(&tmux), "1");
    // Only the workbench, not the shell that started it (its command line has the same words).
    let pattern = format!("^{} --runs-dir {}", env!("CARGO_BIN_EXE_bertbench"), root.join("runs").display());
    let killed = Command::new("pkill").args(["-TERM", "-f", "--", &pattern]).status().expect("pkill");
    assert!(killed.success(), "the workbench process was found");
    assert_eq!(wait_for_exit(&tmux, root), "130");
    assert_eq!(alternate_screen(&tmux), "0", "the terminal left the alternate screen");
    let status = std::fs::read_to_string(only_run(&root.join("runs")).join("status")).expect("status");
    assert!(status.starts_with("cancelled"), "the run was stopped, not abandoned: {status}");
}

#[test]
fn a_dropped_connection_stops_the_run_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let tmux = start(root, "hangup");
    tmux.wait_for("48 examples", 30);
    set_field(&tmux, 7, "400");
    tmux.keys(&["s"]);
    tmux.wait_for("TRAINING", 60);
    // Closing the session hangs up the terminal, as a dropped SSH connection does.
    tmux.run(&["kill-session", "-t", "bb"]);
    let pattern = format!("^{} --runs-dir {}", env!("CARGO_BIN_EXE_bertbench"), root.join("runs").display());
    let start = Instant::now();
    while Command::new("pgrep").args(["-f", "--", &pattern]).output().expect("pgrep").status.success() {
        assert!(start.elapsed() < Duration::from_secs(30), "the workbench outlived its terminal");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = std::fs::read_to_string(only_run(&root.join("runs")).join("status")).expect("status");
    assert!(status.starts_with("cancelled"), "the run was stopped, not abandoned: {status}");
}
