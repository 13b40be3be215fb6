//! SQL expressions the two backends spell differently, for queries written once.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Nullable};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// `haystack` contains `needle` as a substring, case-sensitively (`instr` on SQLite, `strpos`
/// on PostgreSQL; `LIKE` would need escaping and ignores case on SQLite). NULL when
/// `haystack` is NULL.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub struct Contains<H, N> {
    haystack: H,
    needle: N,
}

pub fn contains<H, N>(haystack: H, needle: N) -> Contains<H, N> {
    Contains { haystack, needle }
}

impl<H: Expression, N: Expression> Expression for Contains<H, N> {
    type SqlType = Nullable<Bool>;
}

impl<H, N, QS> AppearsOnTable<QS> for Contains<H, N>
where
    H: AppearsOnTable<QS>,
    N: AppearsOnTable<QS>,
{
}

impl<H, N, QS> SelectableExpression<QS> for Contains<H, N>
where
    H: SelectableExpression<QS>,
    N: SelectableExpression<QS>,
{
}

impl<H, N> Contains<H, N> {
    fn walk<'b, DB: Backend>(
        &'b self,
        function: &str,
        mut out: AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        H: QueryFragment<DB>,
        N: QueryFragment<DB>,
    {
        out.push_sql(function);
        out.push_sql("(");
        self.haystack.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.needle.walk_ast(out.reborrow())?;
        out.push_sql(") > 0");
        Ok(())
    }
}

impl<H: QueryFragment<Sqlite>, N: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Contains<H, N> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.walk("instr", out)
    }
}

impl<H: QueryFragment<Pg>, N: QueryFragment<Pg>> QueryFragment<Pg> for Contains<H, N> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.walk("strpos", out)
    }
}
