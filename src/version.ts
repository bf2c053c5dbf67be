import { readFileSync } from 'node:fs';

interface PackageInfo {
  version: string;
  homepage: string;
}

const packageInfo = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as PackageInfo;

/** Herald's version from package.json. */
export const HERALD_VERSION = packageInfo.version;

/** The honest User-Agent sent with every feed request. */
export const USER_AGENT = `Herald/${packageInfo.version} (+${packageInfo.homepage})`;
