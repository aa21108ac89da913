//! Customer bodies (`/api/customers`).

use chrono::{DateTime, Utc};
use emporium_domain::model::{Address, AddressInput, Customer, CustomerInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A postal address: `country` and `city` required.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct AddressBody {
    #[schema(
        example = "FR",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub country: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub region: Option<String>,
    #[schema(
        example = "Paris",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub postcode: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub line1: Option<String>,
}

/// `POST /api/customers` and `PATCH /api/customers/{id}` (a patch replaces the fields it
/// names; `addresses` as a whole).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerBody {
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Unique without regard to case.
    #[schema(
        example = "ada@example.com",
        min_length = 3,
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub email: Option<String>,
    #[schema(max_items = 10)]
    pub addresses: Option<Vec<AddressBody>>,
}

/// `POST /api/customers`: a [`CustomerBody`] whose `name` and `email` are required.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct NewCustomerBody(pub CustomerBody);

impl utoipa::PartialSchema for NewCustomerBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::required(
            <CustomerBody as utoipa::PartialSchema>::schema(),
            &["name", "email"],
        )
    }
}

impl ToSchema for NewCustomerBody {}

impl From<CustomerBody> for CustomerInput {
    fn from(b: CustomerBody) -> Self {
        CustomerInput {
            name: b.name,
            email: b.email,
            addresses: b.addresses.map(|all| {
                all.into_iter()
                    .map(|a| AddressInput {
                        country: Some(a.country),
                        region: a.region,
                        city: Some(a.city),
                        postcode: a.postcode,
                        line1: a.line1,
                    })
                    .collect()
            }),
        }
    }
}

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub email: String,
    pub addresses: Vec<AddressBody>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Address> for AddressBody {
    fn from(a: Address) -> Self {
        AddressBody {
            country: a.country,
            region: a.region,
            city: a.city,
            postcode: a.postcode,
            line1: a.line1,
        }
    }
}

impl From<Customer> for CustomerResponse {
    fn from(c: Customer) -> Self {
        CustomerResponse {
            id: c.id.into_inner(),
            name: c.name.into_inner(),
            email: c.email.as_str().to_owned(),
            addresses: c.addresses.into_iter().map(Into::into).collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One recommended product.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationItem {
    pub product_id: uuid::Uuid,
    pub name: String,
    /// Null while the product has no reviews.
    #[schema(example = "4.50")]
    pub rating_average: Option<String>,
    #[schema(example = "19.99")]
    pub price: String,
    pub currency: String,
}

/// `GET /api/customers/{id}/recommendations`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationsResponse {
    pub items: Vec<RecommendationItem>,
    /// When the list was worked out.
    pub generated_at: DateTime<Utc>,
    /// True when served as stored on the customer; false when worked out for this request.
    pub cached: bool,
}

impl From<emporium_domain::service::Served> for RecommendationsResponse {
    fn from(s: emporium_domain::service::Served) -> Self {
        RecommendationsResponse {
            items: s
                .recommendations
                .items
                .into_iter()
                .map(|r| RecommendationItem {
                    product_id: r.product_id.as_uuid(),
                    name: r.name.into_inner(),
                    rating_average: r.rating_average.map(|a| a.to_string()),
                    price: r.price.to_string(),
                    currency: r.price.currency().to_string(),
                })
                .collect(),
            generated_at: s.recommendations.generated_at,
            cached: s.cached,
        }
    }
}
