//! The `s3` driver (AWS, Garage, MinIO, Ceph RGW, R2, B2) on `object_store`, run on a small
//! current-thread runtime of its own: nothing above this file is async.
//!
//! Uploads stream the file in fixed-size parts, a few in flight, each with an
//! `x-amz-checksum-sha256` the server checks; a multipart upload that fails is aborted, so the
//! key shows nothing until the whole object is complete. Afterwards a HEAD (checksum mode) must
//! report the file's size and the SHA-256 we computed. The part size is kept in the object's
//! metadata, so a download can recompute the server's (composite) checksum and catch a copy
//! that was altered or truncated.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::path::Path as Key;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{
    Attribute, Attributes, BackoffConfig, Certificate, ClientOptions, HeaderValue, MultipartUpload,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};

use super::{parse, Copied, Disk, Got, HashingWriter, Listing, Object, S3Spec, Seal};
use crate::error::{Error, Result};

/// Part size for multipart uploads (S3's minimum is 5 MiB); larger for files over ~80 GB, which
/// would need more than S3's 10,000 parts.
const PART: u64 = 8 << 20;
const MAX_PARTS: u64 = 10_000;
/// Parts uploaded at once; with one waiting in the channel and one being read, 40 MiB of
/// buffers at most.
const IN_FLIGHT: usize = 3;
/// Metadata key holding the part size (`x-amz-meta-db-backup-part-size`).
const PART_META: &str = "db-backup-part-size";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long is stalled.
const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Listing, HEAD and delete, retries included: an endpoint that does not answer fails here.
const SMALL_DEADLINE: Duration = Duration::from_secs(20);
/// One part, or completing the upload, retries included.
const PART_DEADLINE: Duration = Duration::from_secs(300);

/// An S3 bucket (and key prefix) as a disk.
pub struct S3Disk {
    name: String,
    spec: S3Spec,
    store: AmazonS3,
    /// For the HEAD with `x-amz-checksum-mode`, which object_store does not ask for.
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for S3Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Disk")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl S3Disk {
    /// Builds the client; nothing is sent yet.
    pub fn open(name: &str, spec: &S3Spec) -> Result<S3Disk> {
        let bad = |detail: String| Error::BadDisk {
            name: name.to_string(),
            detail,
        };
        // One TLS provider for the process (ring, as the MySQL client uses); a second install
        // is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        keep_part_buffers_out_of_the_heap();
        let https = !spec.endpoint.starts_with("http://");
        let certs = match (&spec.ca_bundle, https) {
            // AWS_CA_BUNDLE adds trust for TLS; a plain-http endpoint has no TLS to trust.
            (Some(path), true) => {
                let pem = std::fs::read(path).map_err(|e| {
                    bad(format!(
                        "AWS_CA_BUNDLE={} cannot be read ({e}); fix or unset it",
                        path.display()
                    ))
                })?;
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                    bad(format!(
                        "AWS_CA_BUNDLE={} holds no PEM certificates; fix or unset it",
                        path.display()
                    ))
                })?
            }
            _ => Vec::new(),
        };
        let mut options = ClientOptions::new()
            .with_allow_http(!https)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_read_timeout(READ_TIMEOUT)
            .with_timeout_disabled();
        if let (Some(path), true) = (&spec.ca_bundle, https) {
            let pem = std::fs::read(path).unwrap_or_default();
            for cert in Certificate::from_pem_bundle(&pem).unwrap_or_default() {
                options = options.with_root_certificate(cert);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(4),
                base: 2.0,
            },
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
        };
        let mut builder = AmazonS3Builder::new()
            .with_access_key_id(&spec.key)
            .with_secret_access_key(spec.secret.expose())
            .with_region(if spec.region.is_empty() {
                "us-east-1"
            } else {
                &spec.region
            })
            .with_bucket_name(&spec.bucket)
            // As the AWS SDK under Laravel: the bucket in the host name unless
            // use_path_style_endpoint (Garage, MinIO) says otherwise.
            .with_virtual_hosted_style_request(!spec.path_style)
            .with_checksum_algorithm(Checksum::SHA256)
            .with_client_options(options)
            .with_retry(retry);
        if !spec.endpoint.is_empty() {
            builder = builder.with_endpoint(match spec.path_style {
                true => spec.endpoint.clone(),
                false => bucket_host(&spec.endpoint, &spec.bucket),
            });
        }
        let store = builder
            .build()
            .map_err(|e| bad(redact(&e.to_string(), spec)))?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .timeout(SMALL_DEADLINE);
        if !certs.is_empty() {
            http = http.tls_certs_merge(certs);
        }
        let http = http
            .build()
            .map_err(|e| bad(format!("cannot set up the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
        Ok(S3Disk {
            name: name.to_string(),
            spec: spec.clone(),
            store,
            http,
            rt,
        })
    }

    fn key(&self, name: &str) -> Result<Key> {
        if !super::is_ours(name) {
            return Err(self.error(format!("'{name}' is not a backup name")));
        }
        Ok(match self.spec.root.as_str() {
            "" => Key::from(name),
            root => Key::from(format!("{root}/{name}").as_str()),
        })
    }

    fn error(&self, detail: String) -> Error {
        Error::Disk {
            disk: self.name.clone(),
            detail,
        }
    }

    /// One clear line for a failed request: what it means and what to check, never a secret.
    /// The whole chain of causes is read: "connection refused" is only at its end.
    fn failed(&self, doing: &str, e: &dyn std::error::Error) -> Error {
        let mut text = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        self.error(explain(doing, &text, &self.spec))
    }

    fn timed_out(&self, doing: &str, limit: Duration) -> Error {
        self.error(format!(
            "{doing}: {} did not answer within {} s; check that the endpoint is right and the server runs",
            self.endpoint(),
            limit.as_secs()
        ))
    }

    fn endpoint(&self) -> String {
        if self.spec.endpoint.is_empty() {
            format!("AWS S3 ({})", self.spec.region)
        } else {
            self.spec.endpoint.clone()
        }
    }

    /// Size, SHA-256 checksum and part size of an object, from a presigned HEAD asking for the
    /// checksum (`x-amz-checksum-mode: ENABLED`, signed with the URL).
    async fn head(&self, key: &Key, name: &str) -> Result<Head> {
        self.head_if_there(key)
            .await?
            .ok_or_else(|| self.error(format!("no copy named {name} in {}", self.location())))
    }

    /// The same, None when the object is not (or no longer) there.
    async fn head_if_there(&self, key: &Key) -> Result<Option<Head>> {
        let opts = SignedUrlOptions::new().with_signed_header(
            reqwest::header::HeaderName::from_static("x-amz-checksum-mode"),
            HeaderValue::from_static("ENABLED"),
        );
        let url = self
            .store
            .signed_url_opts(reqwest::Method::HEAD, key, Duration::from_secs(600), &opts)
            .await
            .map_err(|e| self.failed("signing a request", &e))?;
        let resp = self
            .http
            .head(url)
            .header("x-amz-checksum-mode", "ENABLED")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    self.timed_out("checking the copy", SMALL_DEADLINE)
                } else {
                    self.failed("checking the copy", &e.without_url())
                }
            })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.error(explain(
                "checking the copy",
                &format!("status {status}"),
                &self.spec,
            )));
        }
        let h = resp.headers();
        let text = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        let meta = |k: &str| text(&format!("x-amz-meta-{k}"));
        Ok(Some(Head {
            size: text("content-length").and_then(|v| v.parse().ok()),
            checksums: CHECKSUMS
                .iter()
                .filter_map(|k| Some((*k, text(&format!("x-amz-checksum-{k}"))?)))
                .collect(),
            part_size: meta(PART_META).and_then(|v| v.parse().ok()),
            seal: Seal::from_meta(meta),
        }))
    }

    /// One page of ListObjectsV2 directly under the root (delimiter `/`): the keys and sizes
    /// as the server wrote them, and the token of the next page. Read from the XML ourselves,
    /// so no name, however odd, can make the listing fail.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<(Vec<(String, u64)>, Option<String>)> {
        let mut query = vec![("list-type", "2"), ("prefix", prefix), ("delimiter", "/")];
        if let Some(t) = token {
            query.push(("continuation-token", t));
        }
        let opts = SignedUrlOptions::new().with_query(query);
        let body = self.signed_get(&opts, "listing").await?;
        let items = body
            .split("<Contents>")
            .skip(1)
            .filter_map(|c| {
                let key = between(c, "<Key>", "</Key>")?;
                let size = between(c, "<Size>", "</Size>")?.trim().parse().ok()?;
                Some((key, size))
            })
            .collect();
        let truncated =
            between(&body, "<IsTruncated>", "</IsTruncated>").is_some_and(|t| t.trim() == "true");
        let next = between(&body, "<NextContinuationToken>", "</NextContinuationToken>")
            .map(|t| unescape(&t))
            .filter(|t| truncated && !t.is_empty());
        Ok((items, next))
    }

    /// A presigned GET on the bucket itself (listings), its body as text.
    async fn signed_get(&self, opts: &SignedUrlOptions, doing: &str) -> Result<String> {
        let url = self
            .store
            .signed_url_opts(
                reqwest::Method::GET,
                &Key::default(),
                Duration::from_secs(600),
                opts,
            )
            .await
            .map_err(|e| self.failed("signing a request", &e))?;
        let resp = self.http.get(url).send().await.map_err(|e| {
            if e.is_timeout() {
                self.timed_out(doing, SMALL_DEADLINE)
            } else {
                self.failed(doing, &e.without_url())
            }
        })?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| self.failed(doing, &e.without_url()))?;
        if !status.is_success() {
            return Err(self.error(explain(
                doing,
                &format!("status {status}: {body}"),
                &self.spec,
            )));
        }
        Ok(body)
    }

    /// `root/`, or nothing at the bucket's top.
    fn prefix(&self) -> String {
        match self.spec.root.as_str() {
            "" => String::new(),
            root => format!("{root}/"),
        }
    }

    /// Unfinished multipart uploads of backup names directly under the root: (name, upload id,
    /// when it started). ListMultipartUploads, which object_store does not offer, presigned.
    async fn unfinished(
        &self,
    ) -> Result<Vec<(String, String, Option<chrono::DateTime<chrono::Utc>>)>> {
        let prefix = self.prefix();
        let opts =
            SignedUrlOptions::new().with_query([("uploads", ""), ("prefix", prefix.as_str())]);
        let body = self.signed_get(&opts, "listing unfinished uploads").await?;
        Ok(body
            .split("<Upload>")
            .skip(1)
            .filter_map(|u| {
                let key = between(u, "<Key>", "</Key>")?;
                let name = key.strip_prefix(&prefix)?.to_string();
                parse(&name)?;
                let id = between(u, "<UploadId>", "</UploadId>")?;
                let initiated = between(u, "<Initiated>", "</Initiated>")
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc));
                Some((name, id, initiated))
            })
            .collect())
    }

    async fn upload(
        &self,
        src: &Path,
        key: &Key,
        len: u64,
        part: u64,
        seal: &Seal,
    ) -> Result<Vec<[u8; 32]>> {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(PART_META.into()),
            part.to_string().into(),
        );
        for (k, v) in seal.to_meta() {
            attributes.insert(Attribute::Metadata(k.into()), v.into());
        }
        if len <= part {
            let bytes = std::fs::read(src).map_err(Error::io("cannot read", src))?;
            let digest = sha256(&bytes);
            let opts = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            let put = self
                .store
                .put_opts(key, PutPayload::from(Bytes::from(bytes)), opts);
            tokio::time::timeout(PART_DEADLINE, put)
                .await
                .map_err(|_| self.timed_out("uploading", PART_DEADLINE))?
                .map_err(|e| self.failed("uploading", &e))?;
            return Ok(vec![digest]);
        }
        let opts = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let start = self.store.put_multipart_opts(key, opts);
        let mut upload = tokio::time::timeout(SMALL_DEADLINE, start)
            .await
            .map_err(|_| self.timed_out("starting the upload", SMALL_DEADLINE))?
            .map_err(|e| self.failed("starting the upload", &e))?;
        match self
            .send_parts(src, upload.as_mut(), len, part, seal.sha256)
            .await
        {
            Ok(digests) => {
                let complete = tokio::time::timeout(PART_DEADLINE, upload.complete()).await;
                match complete {
                    Ok(Ok(_)) => Ok(digests),
                    Ok(Err(e)) => {
                        let _ = upload.abort().await;
                        Err(self.failed("completing the upload", &e))
                    }
                    Err(_) => {
                        let _ = upload.abort().await;
                        Err(self.timed_out("completing the upload", PART_DEADLINE))
                    }
                }
            }
            Err(e) => {
                // Leave no parts behind (they would be billed, and seen by nothing).
                let aborted = tokio::time::timeout(SMALL_DEADLINE, upload.abort()).await;
                match aborted {
                    Ok(Ok(())) => Err(e),
                    _ => Err(self.error(format!(
                        "{}; the unfinished upload could not be aborted either: set a lifecycle rule that aborts incomplete multipart uploads on the bucket",
                        error_detail(&e)
                    ))),
                }
            }
        }
    }

    /// Reads the file in a thread (which also hashes each part) and uploads the parts, a few
    /// at once; returns every part's SHA-256.
    async fn send_parts(
        &self,
        src: &Path,
        upload: &mut dyn MultipartUpload,
        len: u64,
        part: u64,
        seal_sha256: [u8; 32],
    ) -> Result<Vec<[u8; 32]>> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let path = src.to_path_buf();
        let reader = std::thread::spawn(move || read_parts(&path, part, &tx));
        let mut tasks = tokio::task::JoinSet::new();
        let mut sent: Result<()> = Ok(());
        loop {
            // A free slot first, then the next part: a part is never held waiting for one,
            // so at most IN_FLIGHT + 2 parts exist (in flight, in the channel, being read).
            while tasks.len() >= IN_FLIGHT && sent.is_ok() {
                sent = self.settle(tasks.join_next().await);
            }
            if sent.is_err() {
                break;
            }
            let Some(bytes) = rx.recv().await else { break };
            let put = upload.put_part(PutPayload::from(bytes));
            tasks.spawn(tokio::time::timeout(PART_DEADLINE, put));
        }
        while sent.is_ok() && !tasks.is_empty() {
            sent = self.settle(tasks.join_next().await);
        }
        tasks.abort_all();
        // The reader stops at its next send once the channel is gone.
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(self.error("the file reader panicked".into())));
        sent?;
        let (digests, whole, total) = read?;
        // What went up must be what was sealed, byte for byte.
        if whole != seal_sha256 {
            return Err(self.error(format!(
                "{} changed after it was sealed (its SHA-256 differs)",
                src.display()
            )));
        }
        if total != len {
            return Err(self.error(format!(
                "{} changed size during the upload ({total} bytes read, {len} expected)",
                src.display()
            )));
        }
        Ok(digests)
    }

    /// The result of one finished part upload.
    fn settle(&self, done: Option<PartDone>) -> Result<()> {
        match done {
            None | Some(Ok(Ok(Ok(_)))) => Ok(()),
            Some(Ok(Ok(Err(e)))) => Err(self.failed("uploading a part", &e)),
            Some(Ok(Err(_))) => Err(self.timed_out("uploading a part", PART_DEADLINE)),
            Some(Err(e)) => Err(self.error(format!("a part upload stopped: {e}"))),
        }
    }

    async fn fetch(&self, key: &Key, name: &str, dst: &mut dyn Write, max: u64) -> Result<Got> {
        let head = self.head(key, name).await?;
        if head.size.is_some_and(|s| s > max) {
            return Err(self.error(format!(
                "{name} is larger on the server than the {max} bytes expected; do not trust this copy"
            )));
        }
        let part = head.part_size.filter(|p| *p > 0).unwrap_or(u64::MAX);
        let get = tokio::time::timeout(SMALL_DEADLINE, self.store.get(key))
            .await
            .map_err(|_| self.timed_out("downloading", SMALL_DEADLINE))?
            .map_err(|e| self.failed("downloading", &e))?;
        let mut stream = get.into_stream();
        let mut parts = PartHasher::new(part);
        let mut out = HashingWriter::new(dst, max);
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failed("downloading", &e))?;
            parts.update(&chunk);
            out.write_all(&chunk).map_err(|e| match out.over {
                true => self.error(format!(
                    "{name} is larger than the {max} bytes expected; do not trust this copy"
                )),
                false => Error::io("cannot write the download of", name)(e),
            })?;
            written += chunk.len() as u64;
        }
        let sha256 = out.finish();
        let (_, warning) = server_check(&head, &sha256, &parts.finish(), name);
        Ok(Got {
            size: written,
            sha256,
            warnings: warning.into_iter().collect(),
        })
    }
}

/// The checksum kinds S3 services keep (`x-amz-checksum-<kind>`), any of them, or none.
const CHECKSUMS: [&str; 5] = ["sha256", "crc64nvme", "crc32c", "crc32", "sha1"];

/// What the server's own checksum says of the bytes we hashed: a word for `--json`, and a
/// warning when it disagrees. Our seal decides; this is an extra check where one is kept.
/// SHA-256 is compared in every form services use: of the whole object, or composite (the
/// SHA-256 of the parts' SHA-256s) with or without AWS's `-N`. CRCs are not recomputed.
fn server_check(
    head: &Head,
    whole: &[u8; 32],
    parts: &[[u8; 32]],
    name: &str,
) -> (String, Option<String>) {
    let Some((kind, value)) = head.checksums.first() else {
        return ("none kept by the server".into(), None);
    };
    if *kind != "sha256" {
        return (format!("{kind} kept by the server, not compared"), None);
    }
    let composite_n = composite(parts);
    let composite_bare = composite_n.split('-').next().unwrap_or_default();
    let value = value.split_whitespace().next().unwrap_or_default();
    if value == b64(whole) {
        ("sha256 of the whole object agrees".into(), None)
    } else if value == composite_n || value == composite_bare {
        ("composite sha256 agrees".into(), None)
    } else {
        (
            "sha256 disagrees".into(),
            Some(format!(
                "{name}: the server's SHA-256 checksum does not match its bytes, although they match the copy's seal; the server may compute it its own way"
            )),
        )
    }
}

/// A part upload as the task set returns it: joined, within its deadline, accepted.
type PartDone = std::result::Result<
    std::result::Result<object_store::Result<()>, tokio::time::error::Elapsed>,
    tokio::task::JoinError,
>;

/// What a HEAD told about an object.
struct Head {
    size: Option<u64>,
    /// (kind, value) of every `x-amz-checksum-*` kept, SHA-256 first.
    checksums: Vec<(&'static str, String)>,
    part_size: Option<u64>,
    seal: Option<Seal>,
}

impl Disk for S3Disk {
    fn name(&self) -> &str {
        &self.name
    }

    fn location(&self) -> String {
        match self.spec.root.as_str() {
            "" => format!("s3://{}", self.spec.bucket),
            root => format!("s3://{}/{root}", self.spec.bucket),
        }
    }

    fn list(&self) -> Result<Listing> {
        self.rt.block_on(async {
            let mut found = Listing::default();
            let mut named = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = tokio::time::timeout(
                    SMALL_DEADLINE,
                    self.list_page(&self.prefix(), token.as_deref()),
                )
                .await
                .map_err(|_| self.timed_out("listing", SMALL_DEADLINE))??;
                let prefix = self.prefix();
                for (key, size) in page.0 {
                    let Some(name) = key.strip_prefix(&prefix) else {
                        continue;
                    };
                    match parse(name) {
                        Some((backup, suffix)) => {
                            named.push((name.to_string(), backup, suffix, size))
                        }
                        None if looks_odd(name) => found.warnings.push(format!(
                            "disk '{}': passed over an object with an odd name under {}: {:?}",
                            self.name,
                            self.location(),
                            name
                        )),
                        None => {}
                    }
                }
                match page.1 {
                    Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                    _ => break,
                }
            }
            // Each copy's seal is in its metadata, which a listing does not carry: a HEAD each,
            // a few at once.
            // An object deleted between the listing and its HEAD (another app's retention in a
            // shared bucket) is simply not there any more.
            let heads = futures_util::stream::iter(named.iter().map(|(name, ..)| async move {
                let key = self.key(name)?;
                self.head_if_there(&key).await
            }))
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
            for ((name, backup, suffix, size), head) in named.into_iter().zip(heads) {
                let Some(head) = head? else { continue };
                found.objects.push(Object {
                    seal: head.seal,
                    name,
                    backup,
                    suffix,
                    size,
                });
            }
            Ok(found)
        })
    }

    fn put(&self, src: &Path, name: &str, seal: &Seal) -> Result<Copied> {
        let key = self.key(name)?;
        let len = std::fs::metadata(src)
            .map_err(Error::io("cannot read", src))?
            .len();
        if len != seal.size {
            return Err(self.error(format!(
                "{} changed after it was sealed ({len} bytes, {} sealed)",
                src.display(),
                seal.size
            )));
        }
        let part = PART.max(len.div_ceil(MAX_PARTS - 1).next_multiple_of(1 << 20));
        self.rt.block_on(async {
            let digests = self.upload(src, &key, len, part, seal).await?;
            // What was read while uploading must be what was sealed.
            if digests.len() == 1 && len <= part && digests[0] != seal.sha256 {
                return Err(self.error(format!(
                    "{} changed after it was sealed",
                    src.display()
                )));
            }
            let head = self.head(&key, name).await?;
            if head.size != Some(len) {
                return Err(self.error(format!(
                    "{name} was uploaded but the server reports {} bytes, not {len}",
                    head.size.map_or("no size".into(), |s| s.to_string())
                )));
            }
            if head.seal.as_ref() != Some(seal) {
                return Err(self.error(format!(
                    "{name} was uploaded but the server does not keep its metadata (SHA-256, sizes, seal) as sent: db-backup needs user metadata (x-amz-meta-*) to trust a copy"
                )));
            }
            let (server_checksum, warning) = server_check(&head, &seal.sha256, &digests, name);
            Ok(Copied {
                name: name.to_string(),
                size: len,
                checked: "size, SHA-256 and seal read back",
                server_checksum,
                warnings: warning.into_iter().collect(),
            })
        })
    }

    fn get(&self, name: &str, dst: &mut dyn Write, max: u64) -> Result<Got> {
        let key = self.key(name)?;
        self.rt.block_on(self.fetch(&key, name, dst, max))
    }

    fn list_changes(&self) -> Result<Vec<(String, u64)>> {
        self.rt.block_on(async {
            let mut found = Vec::new();
            let mut token: Option<String> = None;
            let root = self.prefix();
            let prefix = format!("{root}{}/", crate::store::changes::DIR);
            loop {
                let page =
                    tokio::time::timeout(SMALL_DEADLINE, self.list_page(&prefix, token.as_deref()))
                        .await
                        .map_err(|_| self.timed_out("listing", SMALL_DEADLINE))??;
                for (key, size) in page.0 {
                    if let Some(name) = key.strip_prefix(&root) {
                        if super::parse_segment(name).is_some() {
                            found.push((name.to_string(), size));
                        }
                    }
                }
                match page.1 {
                    Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                    _ => break,
                }
            }
            Ok(found)
        })
    }

    fn abort_unfinished(&self) -> Result<usize> {
        self.rt.block_on(async {
            let mut aborted = 0;
            for (name, id, _) in self.unfinished().await? {
                let key = self.key(&name)?;
                let abort = object_store::multipart::MultipartStore::abort_multipart(
                    &self.store,
                    &key,
                    &id,
                );
                tokio::time::timeout(SMALL_DEADLINE, abort)
                    .await
                    .map_err(|_| self.timed_out("aborting an unfinished upload", SMALL_DEADLINE))?
                    .map_err(|e| self.failed("aborting an unfinished upload", &e))?;
                aborted += 1;
            }
            Ok(aborted)
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name)?;
        self.rt
            .block_on(async { tokio::time::timeout(SMALL_DEADLINE, self.store.delete(&key)).await })
            .map_err(|_| self.timed_out("deleting", SMALL_DEADLINE))?
            .map_err(|e| self.failed("deleting", &e))
    }
}

/// Part buffers (8 MiB) must go back to the system when freed. glibc serves them with mmap at
/// first, but raises its threshold after each free until they come from the heap, where freed
/// parts stay in the process: peak memory then grows well past the parts in flight. A fixed
/// threshold (which turns the raising off) keeps every part in its own mapping.
fn keep_part_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; any value is valid to pass.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Reads `path` in parts of `part` bytes, hashing each, and sends them; returns the digests
/// and the bytes read. Stops early (without error) when the receiver is gone.
fn read_parts(
    path: &Path,
    part: u64,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(Vec<[u8; 32]>, [u8; 32], u64)> {
    let mut file = std::fs::File::open(path).map_err(Error::io("cannot open", path))?;
    let (mut digests, mut total) = (Vec::new(), 0u64);
    let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
    loop {
        let mut buf = Vec::with_capacity(part as usize);
        (&mut file)
            .take(part)
            .read_to_end(&mut buf)
            .map_err(Error::io("cannot read", path))?;
        if buf.is_empty() {
            break;
        }
        total += buf.len() as u64;
        let last = (buf.len() as u64) < part;
        digests.push(sha256(&buf));
        whole.update(&buf);
        if tx.blocking_send(Bytes::from(buf)).is_err() || last {
            break;
        }
    }
    Ok((digests, to_array(whole.finish().as_ref()), total))
}

/// SHA-256 of each `part`-byte slice of a stream.
struct PartHasher {
    part: u64,
    in_part: u64,
    ctx: ring::digest::Context,
    digests: Vec<[u8; 32]>,
}

impl PartHasher {
    fn new(part: u64) -> PartHasher {
        PartHasher {
            part,
            in_part: 0,
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            digests: Vec::new(),
        }
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (self.part - self.in_part).min(bytes.len() as u64) as usize;
            self.ctx.update(&bytes[..room]);
            self.in_part += room as u64;
            bytes = &bytes[room..];
            if self.in_part == self.part {
                self.cut();
            }
        }
    }

    fn cut(&mut self) {
        let ctx = std::mem::replace(
            &mut self.ctx,
            ring::digest::Context::new(&ring::digest::SHA256),
        );
        self.digests.push(to_array(ctx.finish().as_ref()));
        self.in_part = 0;
    }

    fn finish(mut self) -> Vec<[u8; 32]> {
        if self.in_part > 0 || self.digests.is_empty() {
            self.cut();
        }
        self.digests
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    to_array(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn to_array(d: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(d);
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// S3's checksum of a multipart object: the SHA-256 of the parts' SHA-256s, then `-N`.
fn composite(digests: &[[u8; 32]]) -> String {
    let joined: Vec<u8> = digests.iter().flatten().copied().collect();
    format!("{}-{}", b64(&sha256(&joined)), digests.len())
}

/// The detail of a disk error, without the "disk 'x': " it would be wrapped in twice.
fn error_detail(e: &Error) -> String {
    match e {
        Error::Disk { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// A server's or client's error as one line a user can act on.
fn explain(doing: &str, raw: &str, spec: &S3Spec) -> String {
    let text = redact(raw, spec);
    let code = between(&text, "<Code>", "</Code>");
    let endpoint = if spec.endpoint.is_empty() {
        "AWS S3"
    } else {
        spec.endpoint.as_str()
    };
    let bucket = &spec.bucket;
    let says = |what: &str| format!("{doing}: {what}");
    match code.as_deref() {
        Some("NoSuchBucket") => {
            return says(&format!(
                "bucket '{bucket}' does not exist at {endpoint}; create it or fix 'bucket' (AWS_BUCKET)"
            ))
        }
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied" | "Forbidden") => {
            return says(&format!(
                "{endpoint} refused the credentials ({}): check the disk's key and secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the key's rights on bucket '{bucket}'",
                code.unwrap_or_default()
            ))
        }
        Some("AuthorizationHeaderMalformed") => {
            return says(&format!(
                "{endpoint} refused the request's region '{}': check 'region' (AWS_DEFAULT_REGION)",
                spec.region
            ))
        }
        _ => {}
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("403 forbidden") || lower.contains("status 403") {
        return says(&format!(
            "{endpoint} refused access (403): check the disk's key and secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the key's rights on bucket '{bucket}'"
        ));
    }
    if lower.contains("connection refused") {
        return says(&format!(
            "cannot connect to {endpoint}: connection refused; check 'endpoint' (AWS_ENDPOINT) and that the server runs"
        ));
    }
    if lower.contains("dns error") || lower.contains("failed to lookup") {
        return says(&format!(
            "cannot resolve the host of {endpoint}; check 'endpoint' (AWS_ENDPOINT)"
        ));
    }
    if lower.contains("timed out") || lower.contains("operation timeout") {
        return says(&format!(
            "{endpoint} did not answer in time; check that the endpoint is right and the server runs"
        ));
    }
    if lower.contains("certificate") || lower.contains("invalidcertificate") {
        return says(&format!(
            "the TLS certificate of {endpoint} is not trusted; install its CA, or point AWS_CA_BUNDLE at it"
        ));
    }
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| line.is_char_boundary(*i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    says(&line)
}

/// `https://host` → `https://bucket.host`: object_store wants the virtual-hosted endpoint whole.
fn bucket_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

/// A name under the root worth a warning when passed over: one that looks like a backup but is
/// not exactly one, or one with characters that S3 clients take badly.
fn looks_odd(name: &str) -> bool {
    name.starts_with("database_backup_")
        || name.contains("..")
        || name.contains("&#")
        || name.chars().any(|c| c.is_control())
}

/// The five XML entities, for the one value (a continuation token) we send back.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].to_string())
}

/// The text with the secret cut out, should any layer ever echo it.
fn redact(text: &str, spec: &S3Spec) -> String {
    let secret = spec.secret.expose();
    if secret.len() >= 4 {
        text.replace(secret, "<secret>")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_hashes_match_whole_and_composite() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut h = PartHasher::new(4096);
        for chunk in data.chunks(1000) {
            h.update(chunk);
        }
        let d = h.finish();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], sha256(&data[..4096]));
        assert_eq!(d[2], sha256(&data[8192..]));
        let mut whole = PartHasher::new(u64::MAX);
        whole.update(&data);
        assert_eq!(whole.finish(), vec![sha256(&data)]);
        assert!(composite(&d).ends_with("-3"));
    }

    #[test]
    fn errors_are_one_line_and_never_hold_the_secret() {
        let spec = S3Spec {
            key: "GK1".into(),
            secret: super::super::Secret::new("topsecretvalue"),
            region: "garage".into(),
            bucket: "b".into(),
            endpoint: "http://127.0.0.1:9".into(),
            path_style: true,
            root: String::new(),
            ca_bundle: None,
        };
        let e = explain(
            "listing",
            "Generic S3 error: Client error with status 404 Not Found: <Error><Code>NoSuchBucket</Code></Error>",
            &spec,
        );
        assert!(e.contains("bucket 'b' does not exist"), "{e}");
        let e = explain("listing", "weird\nfailure topsecretvalue\n", &spec);
        assert_eq!(e, "listing: weird failure <secret>");
        assert_eq!(
            bucket_host("https://acc.r2.cloudflarestorage.com", "b"),
            "https://b.acc.r2.cloudflarestorage.com"
        );
    }
}
