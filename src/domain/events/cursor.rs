//! Event cursors: where a reader is in its organization's events (the audit log's `after`, a
//! subscription's `after`, server-sent events' `Last-Event-ID`), as a token that says nothing
//! of the events' numbering, which is shared by every organization.
//!
//! A cursor is one AES-256 block, base64url: the event's `seq` (8 bytes) and a tag of its
//! organization (8 bytes, itself AES of the organization's id under a second key). A block
//! cipher is a pseudorandom permutation, so a cursor shows neither the number nor how far
//! apart two are, the same event always has the same cursor, and a cursor of another
//! organization, an altered one, or one made under another deployment key decrypts to a block
//! whose tag is wrong (one chance in 2⁶⁴ otherwise) and is refused.

use aes::Aes256;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::secrets::SecretBox;

/// A cursor's length: 16 bytes in unpadded base64url.
const LEN: usize = 22;

/// Makes and reads event cursors under keys derived from the deployment key.
#[derive(Clone)]
pub struct Cursors {
    position: Aes256,
    organization: Aes256,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors(..)")
    }
}

impl Cursors {
    pub fn new(secrets: &SecretBox) -> Self {
        let key = |purpose: &str| Aes256::new(&secrets.derive_key(purpose).into());
        Self {
            position: key("cockpit event cursor v1"),
            organization: key("cockpit event cursor organization tag v1"),
        }
    }

    fn tag(&self, organization_id: Uuid) -> [u8; 8] {
        let mut block = aes::Block::from(*organization_id.as_bytes());
        self.organization.encrypt_block(&mut block);
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&block[..8]);
        tag
    }

    /// The cursor of event `seq` of `organization_id`.
    pub fn encode(&self, organization_id: Uuid, seq: i64) -> String {
        let mut plain = [0u8; 16];
        plain[..8].copy_from_slice(&seq.to_be_bytes());
        plain[8..].copy_from_slice(&self.tag(organization_id));
        let mut block = aes::Block::from(plain);
        self.position.encrypt_block(&mut block);
        URL_SAFE_NO_PAD.encode(block)
    }

    /// The cursor of `event`.
    pub fn of(&self, event: &super::Event) -> String {
        self.encode(event.organization_id, event.seq)
    }

    /// Whether `text` has a cursor's form (which organization's it is takes [`Self::decode`]).
    pub fn well_formed(text: &str) -> bool {
        block_of(text).is_some()
    }

    /// The event `text` names in `organization_id`'s events; a `BAD_USER_INPUT` error, naming
    /// `what` (the argument or header), for anything that isn't a cursor of that organization.
    pub fn decode(
        &self,
        organization_id: Uuid,
        text: &str,
        what: &str,
    ) -> Result<i64, DomainError> {
        let Some(mut block) = block_of(text) else {
            return Err(DomainError::BadInput(format!(
                "{what} is not an event cursor: give back an event's `cursor` as the gateway wrote it"
            )));
        };
        self.position.decrypt_block(&mut block);
        let (seq, tag) = block.split_at(8);
        let seq = i64::from_be_bytes(seq.try_into().expect("a block's first 8 bytes"));
        if tag != self.tag(organization_id) || seq < 0 {
            return Err(DomainError::BadInput(format!(
                "{what} is not a cursor of this organization's events: give back a `cursor` the gateway wrote for them"
            )));
        }
        Ok(seq)
    }
}

fn block_of(text: &str) -> Option<aes::Block> {
    if text.len() != LEN {
        return None;
    }
    let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
    // One text per block: base64 leaves 2 bits of the last character unused.
    (URL_SAFE_NO_PAD.encode(bytes) == text).then(|| aes::Block::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_cursors() -> Cursors {
        Cursors::new(&SecretBox::new(&SecretBox::generate_key()))
    }

    #[test]
    fn a_cursor_names_its_event_in_its_organization_only() {
        let cursors = new_cursors();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for seq in [0, 1, 2, 41, i64::MAX] {
            let cursor = cursors.encode(a, seq);
            assert_eq!(cursor.len(), LEN);
            assert_eq!(
                cursor,
                cursors.encode(a, seq),
                "the same event, the same cursor"
            );
            assert_eq!(cursors.decode(a, &cursor, "`after`").ok(), Some(seq));
            assert!(cursors.decode(b, &cursor, "`after`").is_err());
            assert!(
                new_cursors().decode(a, &cursor, "`after`").is_err(),
                "another key"
            );
        }
        assert_ne!(cursors.encode(a, 7), cursors.encode(b, 7));
    }

    #[test]
    fn anything_else_is_refused() {
        let cursors = new_cursors();
        let org = Uuid::now_v7();
        let good = cursors.encode(org, 5);
        let mut altered = good.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        for text in [
            String::new(),
            "5".to_owned(),
            "0".to_owned(),
            format!("{good}="),
            format!(" {good}"),
            good[..LEN - 1].to_owned(),
            good.replace(|c: char| c.is_ascii_alphanumeric(), "+"),
            altered,
        ] {
            let err = cursors.decode(org, &text, "`after`");
            assert!(
                matches!(&err, Err(DomainError::BadInput(m)) if m.starts_with("`after`")),
                "{text}: {err:?}"
            );
        }
    }
}
