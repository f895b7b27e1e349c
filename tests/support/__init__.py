"""Shared test machinery: servers, fakes and helpers the test modules import."""
