//! SQL expressions the two backends spell differently, for queries written once.

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Nullable};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// `haystack` (a JSON array of strings, as text) has an element exactly equal to `needle`:
/// `json_each` on SQLite, `jsonb @>` on PostgreSQL. NULL (or false) when `haystack` is NULL.
/// An exact element match: no user id can match by being part of another, or of the JSON.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub struct JsonArrayHas<H, N> {
    haystack: H,
    needle: N,
}

pub fn json_array_has<H, N>(haystack: H, needle: N) -> JsonArrayHas<H, N> {
    JsonArrayHas { haystack, needle }
}

impl<H: Expression, N: Expression> Expression for JsonArrayHas<H, N> {
    type SqlType = Nullable<Bool>;
}

impl<H, N, QS> AppearsOnTable<QS> for JsonArrayHas<H, N>
where
    H: AppearsOnTable<QS>,
    N: AppearsOnTable<QS>,
{
}

impl<H, N, QS> SelectableExpression<QS> for JsonArrayHas<H, N>
where
    H: SelectableExpression<QS>,
    N: SelectableExpression<QS>,
{
}

impl<H: QueryFragment<Sqlite>, N: QueryFragment<Sqlite>> QueryFragment<Sqlite>
    for JsonArrayHas<H, N>
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXISTS (SELECT 1 FROM json_each(");
        self.haystack.walk_ast(out.reborrow())?;
        out.push_sql(") WHERE json_each.value = ");
        self.needle.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

impl<H: QueryFragment<Pg>, N: QueryFragment<Pg>> QueryFragment<Pg> for JsonArrayHas<H, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(CAST(");
        self.haystack.walk_ast(out.reborrow())?;
        out.push_sql(" AS jsonb) @> jsonb_build_array(CAST(");
        self.needle.walk_ast(out.reborrow())?;
        out.push_sql(" AS text)))");
        Ok(())
    }
}
