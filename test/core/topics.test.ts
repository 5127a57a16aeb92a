import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeTopics, topicFilter, topicMatches, wildcardLevel } from '../../src/core/topics.js';

describe('topics', () => {
  test('layout hangs off the prefix; the metadata topic is configurable as a whole', () => {
    const topics = makeTopics('site-a', 'image/latest');
    assert.equal(topics.metadata, 'image/latest');
    assert.equal(topics.results, 'site-a/results');
    assert.equal(topics.deviceCount('cam-1'), 'site-a/devices/cam-1/count');
    assert.equal(topics.availability('inference', 'ab12'), 'site-a/inference/ab12/availability');
    assert.equal(makeTopics().metadata, 'people-counter/images');
  });

  test('topicMatches follows MQTT wildcard rules', () => {
    assert.equal(topicMatches('a/+/c', 'a/b/c'), true);
    assert.equal(topicMatches('a/+/c', 'a/b/d'), false);
    assert.equal(topicMatches('a/+/c', 'a/b/c/d'), false);
    assert.equal(topicMatches('a/#', 'a/b/c'), true);
    assert.equal(topicMatches('a/#', 'a'), true);
    assert.equal(topicMatches('a/b', 'a/b'), true);
    assert.equal(topicMatches('a/b', 'a'), false);
    assert.equal(topicMatches('a/b', 'a/b/c'), false);
    assert.equal(topicMatches('#', 'a/b/c'), true);
    assert.equal(topicMatches('+', 'a'), true);
    assert.equal(topicMatches('+', 'a/b'), false);
  });

  test('a prepared topicFilter answers for every message it is asked about', () => {
    const topics = ['a', 'a/b', 'a/b/c', 'a/x/c', 'b/b', 'a/b/c/d'];
    const expected: Record<string, string[]> = {
      '#': topics,
      'a/b': ['a/b'],
      'a/+/c': ['a/b/c', 'a/x/c'],
      'a/#': ['a', 'a/b', 'a/b/c', 'a/x/c', 'a/b/c/d'],
      '+/+': ['a/b', 'b/b'],
    };
    for (const [filter, matching] of Object.entries(expected)) {
      const matches = topicFilter(filter);
      assert.deepEqual(
        topics.filter((topic) => matches(topic)),
        matching,
        filter,
      );
    }
  });

  test('wildcardLevel extracts the device ID', () => {
    assert.equal(wildcardLevel('p/devices/+/image', 'p/devices/cam-7/image'), 'cam-7');
  });
});
