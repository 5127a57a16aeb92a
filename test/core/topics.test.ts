import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeTopics, topicMatches, wildcardLevel } from '../../src/core/topics.js';

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
  });

  test('wildcardLevel extracts the device ID', () => {
    assert.equal(wildcardLevel('p/devices/+/image', 'p/devices/cam-7/image'), 'cam-7');
  });
});
