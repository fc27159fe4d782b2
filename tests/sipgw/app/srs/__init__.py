"""Tests of sipgw/app/srs."""
