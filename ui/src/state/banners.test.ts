import { describe, expect, it } from 'vitest';
import { allBanners, clientBanner, pluginBanner, serverBanner, versionBanner } from './banners';
import { client, server } from './fixtures.test-util';

describe('version banners', () => {
  it('a server reporting another version than expected', () => {
    const b = serverBanner(server({ name: 'time', reported_version: '2025.1', expected_version: '2025.9.25' }));
    expect(b).toMatchObject({ text: 'time reports 2025.1 (expected 2025.9.25)', action: { kind: 'restart', target: 'time', label: 'Restart time' } });
  });
  it('unknown or empty versions never banner', () => {
    for (const [r, e] of [
      [null, '1.0'],
      ['1.0', null],
      ['', '1.0'],
      ['1.0', ''],
      ['  ', '1.0'],
      [null, null],
      ['1.0', '1.0'],
    ] as const) {
      expect(serverBanner(server({ name: 'x', reported_version: r, expected_version: e }))).toBeNull();
    }
  });
  it('is generic over subject, actual, expected and action', () => {
    expect(versionBanner({ id: 'p', subject: 'VS Code plugin', actual: '1.2', expected: '1.3' })?.text).toBe('VS Code plugin reports 1.2 (expected 1.3)');
    expect(pluginBanner({ plugin: 'bridgedock.vscode', pluginVersion: '0.2', server: 'time', serverVersion: '0.3' })?.text).toBe(
      'bridgedock.vscode 0.2 expects a different time (server is 0.3)',
    );
    expect(pluginBanner({ plugin: 'p', pluginVersion: null, server: 'time', serverVersion: '0.3' })).toBeNull();
  });
  it('clients with a protocol mismatch are named with their versions', () => {
    const b = clientBanner(client({ id: 'c1', client_name: 'Cursor', client_version: '0.48', protocol_version: '2024-11-05', protocol_mismatch: true }));
    expect(b?.text).toBe('Cursor 0.48 speaks MCP protocol 2024-11-05, which time does not — update the client or the server');
    expect(clientBanner(client({ id: 'c2', protocol_mismatch: false }))).toBeNull();
    expect(clientBanner(client({ id: 'c3', protocol_mismatch: true, protocol_version: null }))).toBeNull();
    expect(clientBanner(client({ id: 'c4', client_name: null, protocol_mismatch: true }))?.text).toMatch(/^A client \(127\.0\.0\.1:50000\)/);
  });
  it('collects every banner', () => {
    const bs = allBanners(
      [server({ name: 'a', reported_version: '1', expected_version: '2' }), server({ name: 'b' })],
      [client({ id: 'c', protocol_mismatch: true })],
    );
    expect(bs.map((b) => b.id)).toEqual(['server-version:a', 'client-protocol:c']);
  });
});
