"""Promotions: codes and automatic promotions that give the same price in every channel they are valid in."""
