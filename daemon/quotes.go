package daemon

// quotes is what `quote` picks from: proverbs and sayings in the public
// domain.
var quotes = []string{
	"A journey of a thousand miles begins with a single step. (Laozi)",
	"Well begun is half done. (Aristotle)",
	"The only true wisdom is in knowing you know nothing. (Socrates)",
	"He who has a why to live can bear almost any how. (Nietzsche)",
	"Fortune favours the bold. (Latin proverb)",
	"Measure twice, cut once. (Carpenters' proverb)",
	"No man ever steps in the same river twice. (Heraclitus)",
	"Simplicity is the ultimate sophistication. (attributed to Leonardo da Vinci)",
	"Whatever you do, do it well. (proverb)",
	"It is not that we have a short time to live, but that we waste a lot of it. (Seneca)",
	"Many hands make light work. (proverb)",
	"Talk is cheap. Show me the code. (Linus Torvalds)",
}
