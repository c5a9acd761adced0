import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { countryForRegion } from "../../src/domain/catalog/region.ts";

const CATALOG = new URL("../../data/skypilot-catalog/v8/", import.meta.url);
const PROVIDERS = ["lambda", "primeintellect", "runpod", "shadeform", "vast"] as const;

type Row = Record<string, string>;
const rowsByProvider = new Map<string, Row[]>();
function vms(provider: string): Row[] {
  const read = () => parse(readFileSync(new URL(`${provider}/vms.csv`, CATALOG), "utf8"), { columns: true }) as Row[];
  if (!rowsByProvider.has(provider)) rowsByProvider.set(provider, read());
  return rowsByProvider.get(provider)!;
}

// Regions whose country cannot be known from the name. Each must really stay unknown.
const UNKNOWABLE = new Set([
  "europe-south-1", // Lambda publishes no location for it, and "south Europe" spans several countries
]);

describe("countryForRegion over the shared SkyPilot catalogs", () => {
  for (const provider of PROVIDERS) {
    it(`resolves every ${provider} region/zone pair`, () => {
      const unresolved = new Set<string>();
      for (const row of vms(provider)) {
        const region = row.Region ?? "";
        const country = countryForRegion(region, row.AvailabilityZone);
        if (UNKNOWABLE.has(region)) expect(country).toBeNull();
        else if (country === null) unresolved.add(`${region} / ${row.AvailabilityZone ?? ""}`);
        else expect(country).toMatch(/^[A-Z]{2}$/);
      }
      expect([...unresolved]).toEqual([]);
    });
  }

  it("keeps the country code RunPod and Prime Intellect put in Region", () => {
    for (const row of [...vms("runpod"), ...vms("primeintellect")]) {
      expect(countryForRegion(row.Region ?? "", row.AvailabilityZone)).toBe(row.Region);
    }
  });

  it("reads the country from a RunPod zone alone, agreeing with its Region column", () => {
    for (const row of vms("runpod")) expect(countryForRegion("", row.AvailabilityZone)).toBe(row.Region);
  });

  it("takes the code from Vast's 'place, CC, continent' and ignores the continent", () => {
    for (const row of vms("vast")) {
      const code = (row.Region ?? "").split(",")[1]?.trim();
      expect(countryForRegion(row.Region ?? "")).toBe(code);
    }
  });

  it("uses every allow-listed unknown region somewhere in the data", () => {
    const regions = new Set(PROVIDERS.flatMap((p) => vms(p).map((row) => row.Region)));
    for (const region of UNKNOWABLE) expect(regions.has(region)).toBe(true);
  });
});

describe("countryForRegion by naming scheme", () => {
  it.each([
    // Lambda
    ["us-east-1", "US"], ["us-midwest-1", "US"], ["europe-central-1", "DE"], ["asia-south-1", "IN"],
    ["me-west-1", "IL"], ["asia-northeast-1", "JP"], ["asia-northeast-2", "JP"], ["australia-east-1", "AU"],
    // Shadeform
    ["kansascity-usa-1", "US"], ["culpeper-usa-1", "US"], ["helsinki-finland-1", "FI"], ["warsaw-poland-1", "PL"],
    ["bangalore-india-1", "IN"], ["montreal-canada-2", "CA"], ["tokyo-japan-5", "JP"],
    // Vast
    ["France, FR, EU", "FR"], ["Georgia, US, NA", "US"], [", CN, AS", "CN"], ["Hafnarfjarðarkaupstaður, IS, EU", "IS"],
    // Country codes
    ["IN", "IN"], ["us", "US"], ["UK", "GB"],
    // AWS
    ["eu-west-2", "GB"], ["eu-central-1", "DE"], ["ap-northeast-1", "JP"], ["ap-northeast-2", "KR"], ["sa-east-1", "BR"],
    ["us-gov-west-1", "US"],
    // GCP
    ["europe-west4", "NL"], ["us-central1", "US"], ["asia-northeast3", "KR"], ["northamerica-northeast1", "CA"],
    // Azure
    ["eastus", "US"], ["southcentralus", "US"], ["eastus2", "US"], ["westeurope", "NL"], ["northeurope", "IE"],
    ["uksouth", "GB"], ["japaneast", "JP"],
    // Zones
    ["us-east-1a", "US"], ["europe-west4-b", "NL"], ["ap-south-1c", "IN"], ["EU-RO-1", "RO"], ["AP-IN-1", "IN"],
    ["US-TX-3", "US"], ["CA-MTL-1", "CA"], ["EUR-IS-2", "IS"], ["OC-AU-1", "AU"], ["SEA-SG-1", "SG"],
    ["CANADA-1", "CA"], ["NORWAY-1", "NO"], ["eu-iceland1-a", "IS"],
  ])("%s → %s", (region, country) => {
    expect(countryForRegion(region)).toBe(country);
  });

  it.each(["", "   ", "EU", "XX", "moon-base-1", "europe-south-1", "Narnia, ZZ, EU", "FIN-01"])("%j → null", (region) => {
    expect(countryForRegion(region)).toBeNull();
  });

  it.each([
    // "City, Region, CC": the trailing code is the country, not a continent after a country
    ["Ashburn, VA, US", "US"], ["Montreal, Quebec, CA", "CA"], ["Atlanta, GA, US", "US"], ["Berlin, BE, DE", "DE"],
    ["Kansas City, MO, US", "US"], ["Mumbai, MH, IN", "IN"],
    // "place, CC, continent": a continent code after a two-letter code gives way to it (an unknown one: null)
    ["Quebec, CA, NA", "CA"], ["Riyadh, SA, AS", "SA"], ["Kabul, AF, AS", "AF"], ["Pago Pago, AS, OC", "AS"],
    ["São Paulo, BR, SA", "BR"], ["Ashburn, VA, US, NA", "US"], ["  Texas ,  US ,  NA  ", "US"],
    // a continent code with no two-letter code before it is a country after all
    ["Windhoek, Khomas, NA", "NA"], ["Jeddah, Makkah, SA", "SA"], ["Kandahar, Kandahar Province, AF", "AF"],
  ])("%j → %s", (region, country) => {
    expect(countryForRegion(region)).toBe(country);
  });

  it.each(["Somewhere, XX, NA", "Paris, Île-de-France, EU", "Station, Ross Island, AN", "Sydney, NSW, OC", "a, b, c"])("%j → null", (region) => {
    expect(countryForRegion(region)).toBeNull();
  });

  it("lets the region decide and falls back to the zone only when it says nothing", () => {
    expect(countryForRegion("IS", "me-west-1")).toBe("IS");
    expect(countryForRegion("", "EU-SE-1")).toBe("SE");
    expect(countryForRegion("unknown", "us-east-1b")).toBe("US");
    expect(countryForRegion("unknown", null)).toBeNull();
  });
});
