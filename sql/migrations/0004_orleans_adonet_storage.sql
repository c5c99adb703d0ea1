-- 0004: what Microsoft.Orleans.Persistence.AdoNet needs on PostgreSQL: the query table it reads
-- at start (keys WriteToStorageKey, ReadFromStorageKey, ClearStorageKey), the state table and the
-- write function. Contract: parameters @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash,
-- @GrainTypeString, @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary;
-- reads return PayloadBinary and Version, writes NewGrainStateVersion (unchanged = conflict).
CREATE TABLE IF NOT EXISTS orleansquery
(
    querykey  varchar(64)   NOT NULL,
    querytext varchar(8000) NOT NULL,
    CONSTRAINT orleansquery_key PRIMARY KEY (querykey)
);

CREATE TABLE IF NOT EXISTS orleansstorage
(
    grainidhash            integer       NOT NULL,
    grainidn0              bigint        NOT NULL,
    grainidn1              bigint        NOT NULL,
    graintypehash          integer       NOT NULL,
    graintypestring        varchar(512)  NOT NULL,
    grainidextensionstring varchar(512),
    serviceid              varchar(150)  NOT NULL,
    payloadbinary          bytea,
    modifiedon             timestamp     NOT NULL,
    version                integer
);

-- One row per grain: a unique key instead of the stock script's plain index, so that two
-- activations inserting at once cannot both succeed.
CREATE UNIQUE INDEX IF NOT EXISTS ux_orleansstorage_grain
    ON orleansstorage (grainidhash, graintypehash, serviceid, grainidn0, grainidn1, graintypestring,
                       COALESCE(grainidextensionstring, ''));

CREATE OR REPLACE FUNCTION goalgpt_write_grain_state(
    _grainidhash integer, _grainidn0 bigint, _grainidn1 bigint, _graintypehash integer,
    _graintypestring varchar, _grainidextensionstring varchar, _serviceid varchar,
    _grainstateversion integer, _payloadbinary bytea)
    RETURNS TABLE(newgrainstateversion integer)
    LANGUAGE plpgsql
AS $fn$
DECLARE
    _rows integer := 0;
BEGIN
    IF _grainstateversion IS NOT NULL THEN
        UPDATE orleansstorage
        SET payloadbinary = _payloadbinary, modifiedon = (now() AT TIME ZONE 'utc'), version = version + 1
        WHERE grainidhash = _grainidhash AND graintypehash = _graintypehash
          AND grainidn0 = _grainidn0 AND grainidn1 = _grainidn1
          AND graintypestring = _graintypestring
          AND COALESCE(grainidextensionstring, '') = COALESCE(_grainidextensionstring, '')
          AND serviceid = _serviceid
          AND version = _grainstateversion;
        GET DIAGNOSTICS _rows = ROW_COUNT;
        RETURN QUERY SELECT CASE WHEN _rows > 0 THEN _grainstateversion + 1 ELSE _grainstateversion END;
    ELSE
        INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring,
                                    grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
        VALUES (_grainidhash, _grainidn0, _grainidn1, _graintypehash, _graintypestring,
                _grainidextensionstring, _serviceid, _payloadbinary, (now() AT TIME ZONE 'utc'), 1)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS _rows = ROW_COUNT;
        RETURN QUERY SELECT CASE WHEN _rows > 0 THEN 1 ELSE NULL::integer END;
    END IF;
END
$fn$;

INSERT INTO orleansquery (querykey, querytext) VALUES
('WriteToStorageKey',
 'SELECT newgrainstateversion AS "NewGrainStateVersion" FROM goalgpt_write_grain_state(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString, @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary)'),
('ReadFromStorageKey',
 'SELECT payloadbinary AS "PayloadBinary", (now() AT TIME ZONE ''utc'') AS "ModifiedOn", version AS "Version"
  FROM orleansstorage
  WHERE grainidhash = @GrainIdHash AND graintypehash = @GrainTypeHash
    AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1 AND graintypestring = @GrainTypeString
    AND COALESCE(grainidextensionstring, '''') = COALESCE(@GrainIdExtensionString, '''')
    AND serviceid = @ServiceId'),
('ClearStorageKey',
 'UPDATE orleansstorage SET payloadbinary = NULL, version = version + 1
  WHERE grainidhash = @GrainIdHash AND graintypehash = @GrainTypeHash
    AND grainidn0 = @GrainIdN0 AND grainidn1 = @GrainIdN1 AND graintypestring = @GrainTypeString
    AND COALESCE(grainidextensionstring, '''') = COALESCE(@GrainIdExtensionString, '''')
    AND serviceid = @ServiceId AND version = @GrainStateVersion
  RETURNING version AS "NewGrainStateVersion"')
ON CONFLICT (querykey) DO UPDATE SET querytext = EXCLUDED.querytext;
