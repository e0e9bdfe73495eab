//! GetRandomPassword.

use crate::call::respond;
use crate::identity::Grant;
use crate::password::{generate, PasswordSpec};
use crate::secrets::Secrets;
use coffer_api::types::{GetRandomPasswordRequest, GetRandomPasswordResponse, Sensitive};
use coffer_api::{validate, ApiError};

impl Secrets {
    // A handler like the others, though it needs nothing of the component.
    #[allow(clippy::unused_self)]
    pub(crate) fn get_random_password(
        &self,
        _: &Grant<'_>,
        req: GetRandomPasswordRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let length = req.password_length.unwrap_or(32);
        validate::range(length, "passwordLength", 1, 4096)?;
        validate::optional(
            req.exclude_characters.as_deref(),
            "excludeCharacters",
            0,
            4096,
        )?;
        let spec = PasswordSpec {
            length: length as usize,
            exclude_characters: req.exclude_characters.unwrap_or_default(),
            exclude_numbers: req.exclude_numbers.unwrap_or(false),
            exclude_punctuation: req.exclude_punctuation.unwrap_or(false),
            exclude_uppercase: req.exclude_uppercase.unwrap_or(false),
            exclude_lowercase: req.exclude_lowercase.unwrap_or(false),
            include_space: req.include_space.unwrap_or(false),
            require_each_included_type: req.require_each_included_type.unwrap_or(true),
        };
        respond(&GetRandomPasswordResponse {
            random_password: Sensitive(generate(&spec)?),
        })
    }
}
