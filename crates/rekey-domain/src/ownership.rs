//! How an access key found in IAM relates to the vault ([`KeyOwnership`]), as discovery and the
//! compliance report show it. The engine's ownership module decides it from the vault's
//! versions and the user's ownership tags; this is only its vocabulary.

use crate::spelling::Spelled;
use serde::{Deserialize, Serialize};

/// Who an access key belongs to, from the vault's point of view.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOwnership {
    /// An account's current key whose secret rekey holds and rotates.
    Managed,
    /// A key the vault has a version of (previous, pending, or an imported key without secret).
    Known,
    /// Created by an interrupted rotation of this vault; nobody holds its secret.
    Orphan,
    /// Not this vault's (another vault's, or not created by rekey).
    Foreign,
}

impl Spelled for KeyOwnership {
    const WHAT: &'static str = "key ownership";
    const ALL: &'static [Self] = &[Self::Managed, Self::Known, Self::Orphan, Self::Foreign];

    fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::Known => "known",
            Self::Orphan => "orphan",
            Self::Foreign => "foreign",
        }
    }
}

impl KeyOwnership {
    /// The spelling used in JSON and output.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }

    /// Whether the vault holds no secret of the key and no account of it may use it (foreign or
    /// orphaned): an active one is a compliance finding.
    pub fn unheld(self) -> bool {
        matches!(self, Self::Foreign | Self::Orphan)
    }
}

crate::spelling::spelled_text!(KeyOwnership);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spelling::assert_spelled;

    #[test]
    fn ownerships_have_one_spelling_each() {
        assert_spelled::<KeyOwnership>();
        let unheld: Vec<KeyOwnership> = KeyOwnership::ALL.iter().copied().filter(|o| o.unheld()).collect();
        assert_eq!(unheld, [KeyOwnership::Orphan, KeyOwnership::Foreign]);
    }
}
