//! `rekey-fakes`: starts the fakes for scripts (the sandbox) and prints where they listen.
//!
//! ```text
//! rekey-fakes --dir DIR --token-file FILE [--github-port N] [--gitlab-port N] [--k8s-port N]
//! ```
//!
//! Each fake listens on 127.0.0.1 (port 0 or absent: a free port below 32768) and accepts the token in
//! FILE. DIR receives `ca.crt` and `kubeconfig` (for the Kubernetes fake), and, refreshed every
//! 200 ms, `github.json`, `gitlab.json` and `kubernetes.json`: what each fake holds (opened
//! values: this is a test fake). One line of JSON on stdout names the URLs. Runs until killed.

use rekey_fakes::{github::Github, gitlab::Gitlab, kubernetes::Kubernetes, tls::TestCa};
use serde_json::json;
use std::{collections::HashMap, path::PathBuf, time::Duration};

fn args() -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or_else(|| format!("unexpected argument {k}"))?;
        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        out.insert(key.to_owned(), v);
    }
    Ok(out)
}

fn port(a: &HashMap<String, String>, name: &str) -> Result<u16, String> {
    a.get(name).map_or(Ok(0), |p| p.parse().map_err(|_| format!("--{name}: not a port")))
}

fn main() -> Result<(), String> {
    let a = args()?;
    let dir = PathBuf::from(a.get("dir").ok_or("--dir is required")?);
    let token = std::fs::read_to_string(a.get("token-file").ok_or("--token-file is required")?)
        .map_err(|e| format!("reading the token: {e}"))?
        .trim()
        .to_owned();
    let github =
        rekey_fakes::start_github(Github::new(&token, None), port(&a, "github-port")?).map_err(|e| e.to_string())?;
    let gitlab = rekey_fakes::start_gitlab(Gitlab::new(&token), port(&a, "gitlab-port")?).map_err(|e| e.to_string())?;
    let ca = TestCa::new().map_err(|e| e.to_string())?;
    let k8s = rekey_fakes::start_kubernetes(Kubernetes::new(&token, &[("default", "app")]), &ca, port(&a, "k8s-port")?)
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ca.crt"), &ca.ca_pem).map_err(|e| e.to_string())?;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority: ca.crt\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\nusers:\n- name: fake\n  user:\n    tokenFile: {}\n",
        k8s.server.url,
        a.get("token-file").map(String::as_str).unwrap_or_default()
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig).map_err(|e| e.to_string())?;
    println!("{}", json!({ "github": github.server.url, "gitlab": gitlab.server.url, "kubernetes": k8s.server.url }));
    loop {
        let gh: Vec<_> = github
            .state
            .all()
            .into_iter()
            .map(|((h, n), s)| json!({ "holder": h, "name": n, "value": s.value, "writes": s.writes }))
            .collect();
        let gl: Vec<_> = gitlab.state.all().into_iter().map(|((h, k, sc), v)| json!({ "holder": h, "key": k, "scope": sc, "value": v.value, "masked": v.masked, "protected": v.protected })).collect();
        let ks = json!({ "default/aws": k8s.state.secret_data("default", "aws"), "deployment default/app": k8s.state.deployment("default", "app").map(|d| d.generation) });
        for (name, v) in [("github.json", json!(gh)), ("gitlab.json", json!(gl)), ("kubernetes.json", ks)] {
            let tmp = dir.join(format!(".{name}"));
            if std::fs::write(&tmp, v.to_string()).is_ok() {
                let _ = std::fs::rename(&tmp, dir.join(name));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
