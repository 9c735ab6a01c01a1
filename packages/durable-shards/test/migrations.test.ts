import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { migrate, type Migration } from "../src/index.js";
import { uniqueName } from "./helpers.js";

const v1: Migration = { version: 1, name: "items", up: "CREATE TABLE items (id INTEGER PRIMARY KEY, slot INTEGER NOT NULL)" };
const v2: Migration = { version: 2, name: "items.name", up: (sql) => void sql.exec("ALTER TABLE items ADD COLUMN name TEXT") };

describe("migrate", () => {
  it("applies pending versions once, per scope", async () => {
    await runInDurableObject(env.FLAKY.getByName(uniqueName("mig")), (_, state) => {
      expect(migrate(state.storage, "app", [v1])).toBe(1);
      expect(migrate(state.storage, "app", [v1, v2])).toBe(2);
      expect(migrate(state.storage, "app", [v1, v2])).toBe(2);
      expect(migrate(state.storage, "other", [])).toBe(0);
      state.storage.sql.exec("INSERT INTO items (id, slot, name) VALUES (1, 0, 'x')");
      const applied = state.storage.sql.exec("SELECT scope, version, name FROM _ds_migrations WHERE scope = 'app' ORDER BY version").toArray();
      expect(applied).toEqual([
        { scope: "app", version: 1, name: "items" },
        { scope: "app", version: 2, name: "items.name" },
      ]);
    });
  });

  it("rolls back every step of a failing batch", async () => {
    await runInDurableObject(env.FLAKY.getByName(uniqueName("mig")), (_, state) => {
      const broken: Migration = { version: 2, name: "broken", up: "CREATE TABLE nope (" };
      expect(() => migrate(state.storage, "app", [v1, broken])).toThrow();
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'items'").toArray()).toEqual([]);
      expect(migrate(state.storage, "app", [v1])).toBe(1);
    });
  });

  it("refuses gaps and storage newer than the code", async () => {
    await runInDurableObject(env.FLAKY.getByName(uniqueName("mig")), (_, state) => {
      expect(() => migrate(state.storage, "app", [v2])).toThrow(/\[InvalidArgument\] migration 'items.name' of 'app' has version 2, expected 1/);
      migrate(state.storage, "app", [v1, v2]);
      expect(() => migrate(state.storage, "app", [v1])).toThrow(/newer than this code/);
    });
  });
});
