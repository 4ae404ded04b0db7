//! Test certificates made with openssl (an authority, and a leaf for `localhost` and
//! 127.0.0.1), and a small HTTPS file server over a directory (Python's http.server behind
//! TLS), as a mirror of the update channel would be.

use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An authority and a server certificate signed by it, as PEM files in a directory.
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl TestCerts {
    pub fn make(dir: &Path) -> Result<TestCerts> {
        let p = |name: &str| dir.join(name).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
        ca.extend(["-days", "2", "-subj", "/CN=Test authority"]);
        ca.extend(["-keyout", &ca_key, "-out", &ca_pem]);
        openssl(&ca)?;
        let (key, csr, cert) = (p("server.key"), p("server.csr"), p("server.pem"));
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]);
        openssl(&req)?;
        let ext = p("ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ])?;
        Ok(TestCerts {
            ca: ca_pem.into(),
            cert: cert.into(),
            key: key.into(),
        })
    }
}

/// Starts a Debian Python script with `args` and waits for it to print `ready`.
pub fn start_python(script: &str, args: &[String]) -> Result<Child> {
    // Debian's interpreter, where python3-aiosmtpd installs (not a python3 earlier in PATH).
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting /usr/bin/python3")?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    if line.trim() != "ready" {
        let _ = child.kill();
        bail!("the test server did not start: {line}");
    }
    Ok(child)
}

const FILE_SERVER: &str = r#"
import functools, http.server, ssl, sys
port, cert, key, root = sys.argv[1:5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("ready", flush=True)
httpd.serve_forever()
"#;

/// Serves `root` over HTTPS on loopback; stopped when dropped.
pub struct FileServer {
    child: Child,
    pub port: u16,
}

impl FileServer {
    pub fn start(certs: &TestCerts, root: &Path) -> Result<FileServer> {
        let port = crate::free_port();
        let child = start_python(
            FILE_SERVER,
            &[
                port.to_string(),
                certs.cert.display().to_string(),
                certs.key.display().to_string(),
                root.display().to_string(),
            ],
        )?;
        Ok(FileServer { child, port })
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
