//! The two kinds of consumer owner, secrets and containers, and what differs between their
//! consumer routes: the owner's lookup and policy actions, the operation names of messages, the
//! consumer's fields and their validation, the rows listed, and the owner's body answered after
//! a change. The handlers in [`super`] are written once over [`Owner`].

use plugin_api::AuthContext;
use serde::Serialize;

use super::request::{container_consumer, secret_consumer};
use super::view::{ContainerConsumerView, SecretConsumerView};
use crate::api::containers::view::ContainerView;
use crate::api::secrets::secret_view;
use crate::api::secrets::view::SecretView;
use crate::error::ApiError;
use crate::service::consumers::ops;
use crate::service::containers::ContainerRow;
use crate::service::secrets::SecretRow;
use crate::service::{Operation, Services};

/// What a consumer route needs of its owner: the policy action, and the operation its
/// messages name.
#[derive(Clone, Copy)]
pub struct Access {
    pub action: &'static str,
    pub operation: Operation,
}

/// What differs between the consumers of a secret and those of a container; the handlers are
/// written once, over this.
pub trait Owner: 'static {
    /// The owner's row, as its lookup returns it.
    type Row: Send + 'static;
    /// A consumer, as a request body names it.
    type Consumer: Send + 'static;
    /// A consumer as `GET .../consumers` lists it.
    type Listed: Serialize + Send + 'static;
    /// The owner's body, which registration and removal answer.
    type View: Serialize + Send + 'static;
    /// The owner's collection, in paging links (`secrets`, `containers`).
    const COLLECTION: &'static str;
    const LIST: Access;
    const CREATE: Access;
    const DELETE: Access;

    /// Find the owner and authorize `access` on it (404 before 403).
    fn authorized(
        services: &Services,
        caller: &AuthContext,
        id: &str,
        access: Access,
    ) -> Result<Self::Row, ApiError>;
    /// The owner's id.
    fn id(owner: &Self::Row) -> &str;
    /// Validate a consumer body.
    fn consumer(body: &[u8]) -> Result<Self::Consumer, ApiError>;
    /// Register (or refresh) a consumer of `owner`.
    fn register(
        services: &Services,
        caller: &AuthContext,
        owner: &Self::Row,
        consumer: &Self::Consumer,
    ) -> Result<(), ApiError>;
    /// Remove a consumer of `owner`.
    fn remove(
        services: &Services,
        caller: &AuthContext,
        owner: &Self::Row,
        consumer: &Self::Consumer,
    ) -> Result<(), ApiError>;
    /// A page of the owner's consumers, and how many it has.
    fn page(
        services: &Services,
        owner_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Self::Listed>, i64), ApiError>;
    /// The owner's body after a change: with its consumers as they are now.
    fn view(
        services: &Services,
        owner: Self::Row,
        href: &str,
        operation: Operation,
    ) -> Result<Self::View, ApiError>;
}

/// The consumers of a secret: `service`, `resource_type`, `resource_id`; changes answer the
/// secret's metadata (with its consumers).
pub struct OfSecret;

impl Owner for OfSecret {
    type Row = SecretRow;
    type Consumer = (String, String, String);
    type Listed = SecretConsumerView;
    type View = SecretView;
    const COLLECTION: &'static str = "secrets";
    const LIST: Access = Access {
        action: "secret_consumers:get",
        operation: ops::SECRET_LIST,
    };
    const CREATE: Access = Access {
        action: "secret_consumers:post",
        operation: ops::SECRET_CREATE,
    };
    const DELETE: Access = Access {
        action: "secret_consumers:delete",
        operation: ops::SECRET_DELETE,
    };

    fn authorized(
        services: &Services,
        caller: &AuthContext,
        id: &str,
        access: Access,
    ) -> Result<SecretRow, ApiError> {
        Ok(services
            .secrets()
            .authorized(caller, id, access.action, access.operation)?)
    }

    fn id(owner: &SecretRow) -> &str {
        &owner.id
    }

    fn consumer(body: &[u8]) -> Result<Self::Consumer, ApiError> {
        secret_consumer(body)
    }

    fn register(
        services: &Services,
        caller: &AuthContext,
        owner: &SecretRow,
        (service, resource_type, resource_id): &Self::Consumer,
    ) -> Result<(), ApiError> {
        Ok(services.consumers().register_for_secret(
            caller,
            owner,
            service,
            resource_type,
            resource_id,
        )?)
    }

    fn remove(
        services: &Services,
        caller: &AuthContext,
        owner: &SecretRow,
        (service, resource_type, resource_id): &Self::Consumer,
    ) -> Result<(), ApiError> {
        Ok(services.consumers().remove_from_secret(
            caller,
            owner,
            service,
            resource_type,
            resource_id,
        )?)
    }

    fn page(
        services: &Services,
        owner_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SecretConsumerView>, i64), ApiError> {
        let (rows, total) = services.consumers().of_secret(owner_id, offset, limit)?;
        Ok((rows.iter().map(SecretConsumerView::from).collect(), total))
    }

    /// The secret is read again: its metadata is the one after the change.
    fn view(
        services: &Services,
        owner: SecretRow,
        href: &str,
        operation: Operation,
    ) -> Result<SecretView, ApiError> {
        let fresh = services.secrets().find(&owner.id, operation)?;
        secret_view(services, &fresh, href, true, operation)
    }
}

/// The consumers of a container: `name`, `URL`; changes answer the container (with its
/// consumers).
pub struct OfContainer;

impl Owner for OfContainer {
    type Row = ContainerRow;
    type Consumer = (String, String);
    type Listed = ContainerConsumerView;
    type View = ContainerView;
    const COLLECTION: &'static str = "containers";
    const LIST: Access = Access {
        action: "container_consumers:get",
        operation: ops::CONTAINER_LIST,
    };
    const CREATE: Access = Access {
        action: "container_consumers:post",
        operation: ops::CONTAINER_CREATE,
    };
    const DELETE: Access = Access {
        action: "container_consumers:delete",
        operation: ops::CONTAINER_DELETE,
    };

    fn authorized(
        services: &Services,
        caller: &AuthContext,
        id: &str,
        access: Access,
    ) -> Result<ContainerRow, ApiError> {
        Ok(services
            .containers()
            .authorized(caller, id, access.action, access.operation)?)
    }

    fn id(owner: &ContainerRow) -> &str {
        &owner.id
    }

    fn consumer(body: &[u8]) -> Result<Self::Consumer, ApiError> {
        container_consumer(body)
    }

    fn register(
        services: &Services,
        caller: &AuthContext,
        owner: &ContainerRow,
        (name, url): &Self::Consumer,
    ) -> Result<(), ApiError> {
        Ok(services
            .consumers()
            .register_for_container(caller, owner, name, url)?)
    }

    fn remove(
        services: &Services,
        caller: &AuthContext,
        owner: &ContainerRow,
        (name, url): &Self::Consumer,
    ) -> Result<(), ApiError> {
        Ok(services
            .consumers()
            .remove_from_container(caller, owner, name, url)?)
    }

    fn page(
        services: &Services,
        owner_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ContainerConsumerView>, i64), ApiError> {
        let (rows, total) = services.consumers().of_container(owner_id, offset, limit)?;
        Ok((
            rows.iter().map(ContainerConsumerView::from).collect(),
            total,
        ))
    }

    /// The container as authorized, with its references and consumers read now.
    fn view(
        services: &Services,
        owner: ContainerRow,
        href: &str,
        operation: Operation,
    ) -> Result<ContainerView, ApiError> {
        let full = services.containers().full(owner, operation)?;
        Ok(ContainerView::new(&full, href))
    }
}
