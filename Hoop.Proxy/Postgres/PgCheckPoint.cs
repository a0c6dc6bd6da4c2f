namespace Hoop.Proxy.Postgres;

/// <summary>Where a query is checked: each decides which rules apply there.</summary>
internal enum PgCheckPoint
{
    /// <summary>A simple query: every rule.</summary>
    Query,

    /// <summary>
    /// Parse of a named statement: every rule, since SQL's EXECUTE can run it with no Bind. Its review approves
    /// the statement for as long as it stays prepared.
    /// </summary>
    ParseNamed,

    /// <summary>Parse of the unnamed statement: deny rules only; reviews wait for the Bind and its parameters.</summary>
    ParseUnnamed,

    /// <summary>Bind of the unnamed statement: every rule, with the parameters.</summary>
    BindUnnamed,

    /// <summary>Bind of a named statement (checked whole at its Parse): deny rules again, no second review.</summary>
    BindNamed,
}
