"""synthetic: ground-truth videos made from a seed, and the instrument tracker that replays them."""
