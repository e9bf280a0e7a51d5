//! The shell commands the documentation shows, read from its fenced code blocks, so a test can run
//! every one of them (`e2e/tests/docs_commands.rs`).

use std::path::Path;

/// One command as a reader would type it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocCommand {
    /// File it is shown in, relative to the repository.
    pub file: String,
    /// 1-based line of its first line.
    pub line: usize,
    /// The command, continuation lines joined, prompt and trailing comment removed.
    pub text: String,
}

impl std::fmt::Display for DocCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.text)
    }
}

/// Info strings of the blocks that hold commands.
const SHELL_BLOCKS: [&str; 4] = ["sh", "bash", "shell", "console"];

/// The commands of one Markdown text. In a block where some lines start with `$ `, only those are
/// commands (the rest is their output); otherwise every line is, except blank and comment lines.
pub fn commands(file: &str, markdown: &str) -> Vec<DocCommand> {
    enum State<'a> {
        Prose,
        Shell(Vec<(usize, &'a str)>),
        OtherBlock,
    }
    let mut out = Vec::new();
    let mut state = State::Prose;
    for (i, line) in markdown.lines().enumerate() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            if let State::Shell(lines) = &mut state {
                lines.push((i + 1, line));
            }
            continue;
        };
        state = match state {
            State::Prose if SHELL_BLOCKS.contains(&info.trim()) => State::Shell(Vec::new()),
            State::Prose => State::OtherBlock,
            State::Shell(lines) => {
                out.extend(block_commands(file, &lines));
                State::Prose
            }
            State::OtherBlock => State::Prose,
        };
    }
    out
}

fn block_commands(file: &str, lines: &[(usize, &str)]) -> Vec<DocCommand> {
    let prompted = lines.iter().any(|(_, l)| l.starts_with("$ "));
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for &(n, raw) in lines {
        let (start, text) = if let Some((start, text)) = pending.take() {
            (start, format!("{text} {}", raw.trim()))
        } else {
            let body = if prompted {
                let Some(b) = raw.strip_prefix("$ ") else { continue };
                b
            } else {
                raw
            };
            let body = body.trim();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            (n, body.to_owned())
        };
        if let Some(head) = text.strip_suffix('\\') {
            pending = Some((start, head.trim_end().to_owned()));
            continue;
        }
        out.push(DocCommand { file: file.to_owned(), line: start, text: strip_comment(&text).to_owned() });
    }
    out
}

/// The command without a trailing `# comment` (a `#` starting a word outside quotes).
pub fn strip_comment(text: &str) -> &str {
    let (mut single, mut double, mut prev_space) = (false, false, true);
    for (i, c) in text.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return text[..i].trim_end(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    text.trim_end()
}

/// Every command of the README, `docs/`, the examples' READMEs and the chart's README, in that
/// order.
pub fn all(repo: &Path) -> Vec<DocCommand> {
    let mut files = vec![repo.join("README.md")];
    for dir in ["docs", "examples", "deploy"] {
        let mut found = Vec::new();
        collect_markdown(&repo.join(dir), &mut found);
        found.sort();
        files.extend(found);
    }
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rel = path.strip_prefix(repo).unwrap_or(&path).to_string_lossy().into_owned();
        out.extend(commands(&rel, &text));
    }
    out
}

fn collect_markdown(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_from_shell_blocks_only_with_prompts_comments_and_continuations_handled() {
        let md = "text `diurnal nope`\n\
                  ```yaml\nkind: Pod # not a command\n```\n\
                  ```sh\n# a comment line\ndiurnal next -s '0 * * * *'   # trailing\n\n\
                  diurnal plan --query 'a # b' \\\n  --range 28d > x.yaml\n```\n\
                  ```console\n$ diurnal trigger list\nID  TARGET\n$ curl -fsS \"$U#x\"\n```\n";
        let got: Vec<(usize, String)> = commands("f.md", md).into_iter().map(|c| (c.line, c.text)).collect();
        assert_eq!(
            got,
            [
                (7, "diurnal next -s '0 * * * *'".to_owned()),
                (9, "diurnal plan --query 'a # b' --range 28d > x.yaml".to_owned()),
                (13, "diurnal trigger list".to_owned()),
                (15, "curl -fsS \"$U#x\"".to_owned()),
            ]
        );
    }

    #[test]
    fn a_hash_inside_a_word_is_not_a_comment() {
        assert_eq!(strip_comment("echo a#b # c"), "echo a#b");
        assert_eq!(strip_comment("echo \"# x\""), "echo \"# x\"");
    }
}
