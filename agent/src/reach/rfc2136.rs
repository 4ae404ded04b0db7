//! RFC 2136 dynamic updates signed with TSIG (RFC 8945): how the box publishes the TXT
//! records of DNS-01 challenges on the association's own DNS server (knot, bind9, PowerDNS…).
//!
//! Messages are built and signed with `hickory-proto` (the maintained Hickory DNS crate's
//! protocol layer) and sent over TCP, so a large signed message never meets UDP truncation.
//! The answer's code decides (NOERROR or the server's refusal, such as NOTAUTH for a wrong
//! key); the answer's own TSIG is not verified: a forged answer could at worst make the box
//! believe a record exists, which the ACME authority then checks by itself.

use super::ReachError;
use crate::store::ReachRow;
use base64::Engine;
use hickory_proto::op::{Message, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, RData, Record, RecordSet, RecordType, TSigner};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("the DNS server {server} cannot be reached: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("the DNS server {server} refused the update of {name}: {code}")]
    Refused {
        server: String,
        name: String,
        code: String,
    },
    #[error("the DNS update of {name} could not be built: {detail}")]
    Build { name: String, detail: String },
}

/// The DNS server that takes updates, and the key that signs them.
#[derive(Clone)]
pub struct Server {
    pub address: String,
    pub zone: Option<String>,
    signer: TSigner,
}

fn algorithm(name: &str) -> Option<TsigAlgorithm> {
    Some(match name.to_ascii_lowercase().as_str() {
        "hmac-sha1" => TsigAlgorithm::HmacSha1,
        "hmac-sha224" => TsigAlgorithm::HmacSha224,
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        _ => return None,
    })
}

impl Server {
    /// The server of the settings, checked (address, key name, algorithm, base64 secret).
    pub fn from_settings(row: &ReachRow) -> Result<Server, ReachError> {
        let (Some(address), Some(key), Some(secret)) =
            (&row.dns_server, &row.tsig_name, &row.tsig_secret)
        else {
            return Err(ReachError::DnsIncomplete);
        };
        let address = if address.contains(':')
            && !address.starts_with('[')
            && address.matches(':').count() > 1
        {
            format!("[{address}]:53")
        } else if address
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            address.clone()
        } else {
            format!("{address}:53")
        };
        let alg = algorithm(&row.tsig_algorithm).ok_or_else(|| {
            ReachError::InvalidTsig(format!("unknown algorithm {}", row.tsig_algorithm))
        })?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| ReachError::InvalidTsig("the secret is not base64".into()))?;
        let name = Name::from_ascii(key)
            .map_err(|e| ReachError::InvalidTsig(format!("key name {key}: {e}")))?;
        let signer = TSigner::new(secret, alg, name, 300)
            .map_err(|e| ReachError::InvalidTsig(e.to_string()))?;
        Ok(Server {
            address,
            zone: row.dns_zone.clone().or_else(|| row.domain.clone()),
            signer,
        })
    }

    fn zone_of(&self, name: &str) -> Result<Name, UpdateError> {
        let build = |detail: String| UpdateError::Build {
            name: name.to_owned(),
            detail,
        };
        let zone = self
            .zone
            .as_deref()
            .ok_or_else(|| build("no zone is set".into()))?;
        let zone = Name::from_ascii(format!("{zone}.")).map_err(|e| build(e.to_string()))?;
        let owner = Name::from_ascii(format!("{name}.")).map_err(|e| build(e.to_string()))?;
        if !zone.zone_of(&owner) {
            return Err(build(format!("{name} is not inside the zone {zone}")));
        }
        Ok(zone)
    }

    fn txt_set(name: &str, value: &str) -> Result<RecordSet, UpdateError> {
        let owner = Name::from_ascii(format!("{name}.")).map_err(|e| UpdateError::Build {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(RecordSet::from(Record::from_rdata(
            owner,
            60,
            RData::TXT(TXT::new(vec![value.to_owned()])),
        )))
    }

    /// Adds the TXT record `value` at `name`.
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), UpdateError> {
        let zone = self.zone_of(name)?;
        let msg = update_message::append(Self::txt_set(name, value)?, zone, false, false);
        self.send(name, msg).await
    }

    /// Removes the TXT record `value` at `name` (nothing if it is not there).
    pub async fn remove_txt(&self, name: &str, value: &str) -> Result<(), UpdateError> {
        let zone = self.zone_of(name)?;
        let msg = update_message::delete_by_rdata(Self::txt_set(name, value)?, zone, false);
        self.send(name, msg).await
    }

    async fn send(&self, name: &str, mut msg: Message) -> Result<(), UpdateError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let build = |detail: String| UpdateError::Build {
            name: name.to_owned(),
            detail,
        };
        msg.finalize(&self.signer, now)
            .map_err(|e| build(e.to_string()))?;
        let bytes = msg.to_vec().map_err(|e| build(e.to_string()))?;
        let answer = exchange(&self.address, &bytes).await?;
        match answer.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            code => Err(UpdateError::Refused {
                server: self.address.clone(),
                name: name.to_owned(),
                code: code.to_string(),
            }),
        }
    }

    /// The IPv4 addresses this (authoritative) server gives for `name`.
    pub async fn addresses(&self, name: &str) -> Result<Vec<std::net::Ipv4Addr>, UpdateError> {
        let owner = Name::from_ascii(format!("{name}.")).map_err(|e| UpdateError::Build {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        let mut msg = Message::query();
        msg.add_query(Query::query(owner, RecordType::A));
        let bytes = msg.to_vec().map_err(|e| UpdateError::Build {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        let answer = exchange(&self.address, &bytes).await?;
        match answer.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect()),
            code => Err(UpdateError::Refused {
                server: self.address.clone(),
                name: name.to_owned(),
                code: code.to_string(),
            }),
        }
    }
}

/// One DNS exchange over TCP (RFC 1035 §4.2.2: a two-byte length before each message).
async fn exchange(server: &str, bytes: &[u8]) -> Result<Message, UpdateError> {
    let unreachable = |detail: String| UpdateError::Unreachable {
        server: server.to_owned(),
        detail,
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(bytes).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable("no answer within 10 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    Message::from_vec(&answer).map_err(|e| unreachable(e.to_string()))
}
